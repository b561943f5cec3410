"""Run the platform's own containers on this machine, as ECS would start them.

The templates say what each container runs: image, command, environment, secrets, user, read-only
root and scratch space. This package starts the software of those images (installed from PyPI or
npm at the versions the image tags name, see `images`) with exactly that configuration, in a mount
namespace that makes the root filesystem read-only and mounts the task's tmpfs, as the task's user,
next to real TLS-only PostgreSQL and Redis servers. It needs root (mount namespaces) and Linux.

`agent` is the ECS data plane for the emulator (the tasks RunTask starts there really run), and
`pipelines` the local pipelines platform built from both (`blog-infra local pipelines`).
"""
