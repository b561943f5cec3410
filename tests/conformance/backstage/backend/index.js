// The backend `@backstage/create-app` generates, reduced to the catalog: createBackend() from
// backend-defaults and one plugin. Started as the image starts it:
//   node index.js --config app-config.yaml --config app-config.production.yaml
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.start();
