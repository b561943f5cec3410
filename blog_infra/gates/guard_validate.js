// The Control Tower controls as @cdklabs/cdk-validator-cfnguard evaluates them, run outside the synthesis.
//
//   node guard_validate.js <validator package dir> <template> <rule file>...
//
// Loads the validator's own plugin (lib/plugin.js of the pinned jsii tarball) and calls its
// `validate`, which runs the cfn-guard binary it bundles once, on the template, over the rule files
// given (`cfn-guard validate --rules <file>... --data <template> --output-format json
// --show-summary none --structured`), and turns guard's JSON into violations with its own reviver
// and ViolationCheck: the same rule names, descriptions and logical ids the plugin hands to the CDK
// inside a synthesis. Prints {success, violations} as JSON; a failure of cfn-guard is the plugin's
// own error, on stderr, with a non-zero exit.
"use strict";
const path = require("path");

const [packageDir, template, ...rules] = process.argv.slice(2);
const { CfnGuardValidator } = require(path.join(packageDir, "lib", "plugin.js"));
// controlTowerRulesEnabled: false, rules: the files chosen from the same rules/control-tower/cfn-guard
// directory that controlTowerRulesEnabled: true would pass whole (plugin.js, constructor).
const validator = new CfnGuardValidator({ controlTowerRulesEnabled: false, rules });
const report = validator.validate({ templatePaths: [template] });
process.stdout.write(JSON.stringify({ success: report.success, violations: report.violations }));
