// Validates Kubernetes manifests offline against the API schemas shipped by the
// kubernetes-models packages (core + prometheus-operator + KEDA CRDs).
// Usage: node validate.mjs MODULES_DIR FILE.yaml...   (exit 1 naming every invalid object)
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import path from "node:path";

const [modulesDir, ...files] = process.argv.slice(2);
if (!modulesDir || files.length === 0) {
  console.error("usage: node validate.mjs NODE_MODULES_DIR FILE.yaml...");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modulesDir), "x.js"));
const YAML = require("yaml");

// apiVersion -> the generated model class; the packages are ESM-only with an exports map,
// so the model files are imported by path.
const packages = ["kubernetes-models", "@kubernetes-models/prometheus-operator", "@kubernetes-models/keda"];
async function modelFor(apiVersion, kind) {
  for (const pkg of packages) {
    const file = path.join(path.resolve(modulesDir), pkg, apiVersion, `${kind}.js`);
    if (existsSync(file)) return (await import(pathToFileURL(file)))[kind];
  }
  return null;
}

let failures = 0;
let checked = 0;
for (const file of files) {
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj == null) continue;
    const where = `${file}: ${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
    if (!obj.apiVersion || !obj.kind) {
      console.error(`${where}: missing apiVersion or kind`);
      failures++;
      continue;
    }
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      console.error(`${where}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind} (no schema)`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
      checked++;
    } catch (e) {
      console.error(`${where}: invalid: ${e.message}`);
      failures++;
    }
  }
}
if (failures) {
  console.error(`${failures} invalid object(s)`);
  process.exit(1);
}
console.log(`${checked} object(s) valid`);
