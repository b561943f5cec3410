// The backend `@backstage/create-app` generates, reduced to the catalog and GitHub sign-in:
// createBackend() from backend-defaults, the catalog, the auth backend and its GitHub provider
// module. Started as the image starts it:
//   node index.js --config app-config.yaml --config app-config.production.yaml
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(require('@backstage/plugin-auth-backend'));
backend.add(require('@backstage/plugin-auth-backend-module-github-provider'));
backend.start();
