// Parses an AsyncAPI document with the official parser (schema and semantic rules) and exits
// non-zero when any diagnostic has error severity. Usage: node validate.mjs FILE
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}
const path = resolve(file);
const source = await readFile(path, "utf8");
const { document, diagnostics } = await new Parser().parse(source, { source: path });
const names = { 0: "error", 1: "warning", 2: "information", 3: "hint" };
for (const diagnostic of diagnostics) {
  const where = diagnostic.path.join("/") || "(document)";
  console.log(`${names[diagnostic.severity] ?? diagnostic.severity} ${diagnostic.code} at ${where}: ${diagnostic.message}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (errors.length > 0 || document === undefined) {
  console.log(`${path}: INVALID (${errors.length} errors)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()} (${diagnostics.length} diagnostics, none an error)`);
