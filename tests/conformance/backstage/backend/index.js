// The backend `@backstage/create-app` generates, reduced to the catalog and GitHub sign-in:
// createBackend() from backend-defaults, the catalog, the auth backend and its GitHub provider
// module. Started with the task's command, `node packages/backend` standing for `node index.js`:
//   node index.js --config app-config.yaml --config app-config.production.yaml [--config app-config.github.yaml]
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(require('@backstage/plugin-auth-backend'));
backend.add(require('@backstage/plugin-auth-backend-module-github-provider'));
backend.start();
