// Validates an AsyncAPI document with the official parser (@asyncapi/parser), which checks it
// against the official JSON Schema of its version (from @asyncapi/specs) and then lints it.
// Usage: node validate.mjs FILE   Prints one JSON object: {"version", "errors", "warnings"}.
// Exit status: 0 valid, 1 invalid (errors were found), 2 bad usage.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
const describe = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(describe);
const warnings = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error).map(describe);
console.log(JSON.stringify({ version: document ? document.version() : null, errors, warnings }));
process.exit(errors.length || !document ? 1 : 0);
