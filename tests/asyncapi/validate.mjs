// Validates AsyncAPI documents with the official parser (@asyncapi/parser), which checks each
// against the official JSON Schema of its version (from @asyncapi/specs), bindings included,
// and then lints it.
// Usage: node validate.mjs FILE...
// Prints one JSON object a line, a file each: {"file", "version", "errors", "warnings"}.
// Exit status: 0 all valid, 1 some document is invalid, 2 bad usage.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE...");
  process.exit(2);
}
const parser = new Parser();
const describe = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
let invalid = false;
for (const file of files) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  const warnings = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error);
  invalid ||= errors.length > 0 || !document;
  console.log(JSON.stringify({
    file,
    version: document ? document.version() : null,
    errors: errors.map(describe),
    warnings: warnings.map(describe),
  }));
}
process.exit(invalid ? 1 : 0);
