"""The `blog-infra` command line.

Importing the package points this process's jsii runtime at the pinned Node.js before any AWS CDK
module starts it, so every command synthesizes with the same Node.js as the CDK CLI.
"""

from blog_infra.paths import use_pinned_node

use_pinned_node()
