// The Control Tower controls as @cdklabs/cdk-validator-cfnguard evaluates them, run outside the synthesis.
//
//   node guard_validate.js <validator package dir> <jobs file>
//
// The jobs file is a JSON list of {template, rules}: a template and the rule files to evaluate on it.
// For each, this loads the validator's own plugin (lib/plugin.js of the pinned jsii tarball) and calls
// its `validate`, which runs the cfn-guard binary it bundles once, on that template, over those rule
// files (`cfn-guard validate --rules <file>... --data <template> --output-format json --show-summary
// none --structured`), and turns guard's JSON into violations with its own reviver and
// ViolationCheck: the same rule names, descriptions and logical ids the plugin hands to the CDK inside
// a synthesis. Prints a JSON list of {success, violations}, one per job, in the jobs' order; a failure
// of cfn-guard is the plugin's own error, on stderr, with a non-zero exit.
"use strict";
const fs = require("fs");
const path = require("path");

const [packageDir, jobsFile] = process.argv.slice(2);
const { CfnGuardValidator } = require(path.join(packageDir, "lib", "plugin.js"));
const jobs = JSON.parse(fs.readFileSync(jobsFile, "utf8"));
const reports = jobs.map(({ template, rules }) => {
  // controlTowerRulesEnabled: false, rules: the files chosen from the same rules/control-tower/cfn-guard
  // directory that controlTowerRulesEnabled: true would pass whole (plugin.js, constructor).
  const validator = new CfnGuardValidator({ controlTowerRulesEnabled: false, rules });
  const report = validator.validate({ templatePaths: [template] });
  return { success: report.success, violations: report.violations };
});
process.stdout.write(JSON.stringify(reports));
