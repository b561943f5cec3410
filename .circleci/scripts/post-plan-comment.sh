#!/usr/bin/env bash
# Post the plan (blog-infra diff --format markdown) to the pull request as one comment, and edit that
# same comment on later pushes: it is found again by its hidden marker line.
#
# Usage: post-plan-comment.sh [PLAN_FILE]   (default reports/plan.md)
# Reads GITHUB_TOKEN (context blog-infra-plan; without it nothing is posted), CIRCLE_PULL_REQUEST (or,
# without it, the open pull request of CIRCLE_BRANCH), CIRCLE_SHA1, CIRCLE_BUILD_URL, and GITHUB_API_URL
# (default https://api.github.com).
set -euo pipefail

plan_file="${1:-reports/plan.md}"
marker='<!-- blog-infra-plan -->'
api="${GITHUB_API_URL:-https://api.github.com}"
max_body=60000

if [[ -z "${GITHUB_TOKEN:-}" ]]; then
  echo "GITHUB_TOKEN is not set in the context: the plan is only in this job's artifacts (reports/)."
  exit 0
fi
if [[ ! -f "$plan_file" ]]; then
  echo "error: $plan_file not found: run 'blog-infra diff --format markdown > $plan_file' first" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The token goes to curl through a private file, never on a command line.
(umask 077 && printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" > "$work/auth")

github() { # METHOD PATH [curl options...]: prints the response body, fails on an HTTP error
  local method="$1" path="$2"
  shift 2
  curl --silent --show-error --fail-with-body --retry 3 \
    --request "$method" \
    --header @"$work/auth" \
    --header "Accept: application/vnd.github+json" \
    --header "X-GitHub-Api-Version: 2022-11-28" \
    "$@" "${api}${path}"
}

repo="${CIRCLE_PROJECT_USERNAME:-}/${CIRCLE_PROJECT_REPONAME:-}"
number=""
if [[ "${CIRCLE_PULL_REQUEST:-}" =~ ^https?://[^/]+/([^/]+)/([^/]+)/pull/([0-9]+)/?$ ]]; then
  repo="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
  number="${BASH_REMATCH[3]}"
elif [[ -n "${CIRCLE_BRANCH:-}" && "$repo" != "/" ]]; then
  head_ref="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "${CIRCLE_PROJECT_USERNAME}:${CIRCLE_BRANCH}")"
  number="$(github GET "/repos/${repo}/pulls?state=open&head=${head_ref}" |
    python3 -c 'import json, sys; pulls = json.load(sys.stdin); print(pulls[0]["number"] if pulls else "")')"
fi
if [[ -z "$number" ]]; then
  echo "No open pull request for this build: the plan is only in this job's artifacts (reports/)."
  exit 0
fi

comment_id=""
page=1
while [[ -z "$comment_id" ]]; do
  github GET "/repos/${repo}/issues/${number}/comments?per_page=100&page=${page}" > "$work/comments.json"
  result="$(python3 -c '
import json, sys
comments = json.load(open(sys.argv[1], encoding="utf-8"))
found = [str(c["id"]) for c in comments if (c.get("body") or "").startswith(sys.argv[2])]
print(len(comments), found[0] if found else "")
' "$work/comments.json" "$marker")"
  read -r count comment_id <<< "$result"
  if (( count < 100 )); then
    break
  fi
  page=$((page + 1))
done

python3 - "$plan_file" "$marker" "$max_body" > "$work/request.json" <<'PY'
import json
import os
import sys

path, marker, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, encoding="utf-8") as handle:
    body = handle.read()
if not body.startswith(marker):
    body = f"{marker}\n{body}"
if len(body) > limit:
    body = body[:limit] + "\n\n**Truncated:** the whole plan is the job's `reports/plan.md` artifact.\n"
sha = os.environ.get("CIRCLE_SHA1", "")[:12]
url = os.environ.get("CIRCLE_BUILD_URL", "")
if sha or url:
    job = f"[CircleCI job]({url})" if url else "CircleCI"
    body = body.rstrip("\n") + f"\n\n<sub>Planned for commit `{sha or 'unknown'}` by {job}.</sub>\n"
print(json.dumps({"body": body}))
PY

if [[ -n "$comment_id" ]]; then
  github PATCH "/repos/${repo}/issues/comments/${comment_id}" --data @"$work/request.json" > /dev/null
  echo "Updated the plan comment on ${repo}#${number}."
else
  github POST "/repos/${repo}/issues/${number}/comments" --data @"$work/request.json" > /dev/null
  echo "Posted the plan on ${repo}#${number}."
fi
