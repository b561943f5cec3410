// Validates Backstage catalog entities (a JSON array on stdin) with @backstage/catalog-model's own
// policies and kind validators, as the catalog does when it ingests catalog-info.yaml.
// Prints a JSON array of problems; exits 1 when there is any.
'use strict';

const model = require('@backstage/catalog-model');

const policy = model.EntityPolicies.allOf([
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
  new model.SchemaValidEntityPolicy(),
]);
const kindValidators = [
  model.apiEntityV1alpha1Validator,
  model.componentEntityV1alpha1Validator,
  model.domainEntityV1alpha1Validator,
  model.groupEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator,
  model.userEntityV1alpha1Validator,
];
const refFields = [
  ['owner', 'group'],
  ['system', 'system'],
  ['domain', 'domain'],
  ['dependsOn', undefined],
  ['providesApis', 'api'],
  ['consumesApis', 'api'],
  ['parent', 'group'],
  ['children', 'group'],
];

async function check(entity) {
  const name = `${entity && entity.kind}:${entity && entity.metadata && entity.metadata.name}`;
  const problems = [];
  try {
    await policy.enforce(JSON.parse(JSON.stringify(entity)));
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
    return problems;
  }
  let matched = false;
  for (const validator of kindValidators) {
    try {
      if (await validator.check(entity)) matched = true;
    } catch (error) {
      problems.push(`${name}: ${error.message}`);
    }
  }
  if (!matched && problems.length === 0) problems.push(`${name}: no validator accepts kind ${entity.kind}`);
  for (const [field, defaultKind] of refFields) {
    const value = entity.spec && entity.spec[field];
    if (value === undefined) continue;
    for (const ref of Array.isArray(value) ? value : [value]) {
      try {
        model.parseEntityRef(ref, defaultKind ? { defaultKind, defaultNamespace: 'default' } : { defaultNamespace: 'default' });
      } catch (error) {
        problems.push(`${name}: spec.${field} ${JSON.stringify(ref)}: ${error.message}`);
      }
    }
  }
  return problems;
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const problems = [];
  for (const entity of JSON.parse(input)) problems.push(...(await check(entity)));
  process.stdout.write(JSON.stringify(problems));
  process.exitCode = problems.length ? 1 : 0;
}

main().catch(error => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exitCode = 2;
});
