// Checks the bodies the tests' fake GitHub served, and the bodies git-oc sent it, against
// GitHub's published OpenAPI description (@octokit/openapi), with Ajv.
//
//   node validate.mjs <log.jsonl>
//
// Each line of the log: {"spec": "api.github.com" | "ghes-3.19", "kind": "response" | "request",
// "method": "post", "path": "/repos/{owner}/{repo}/pulls", "status": 201, "body": …}.
// A response is checked against the schema its operation documents for its status. A status
// the operation does not document (GitHub answers 401, 404 or 429 on every endpoint) is checked
// against GitHub's generic error schemas: `validation-error` for 422, `basic-error` otherwise.
// An operation GitHub does not have, or a success status it does not document, is an error. Exit status 1 when anything does not conform.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const [logPath] = process.argv.slice(2);
if (!logPath) {
  console.error("usage: node validate.mjs <log.jsonl>");
  process.exit(2);
}

const checkers = new Map();

function checker(specName) {
  if (checkers.has(specName)) return checkers.get(specName);
  const spec = require(`@octokit/openapi/generated/${specName}.json`);
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
  addFormats(ajv);
  // GitHub's own formats that JSON Schema does not define.
  ajv.addFormat("repo.nwo", /^[^/\s]+\/[^/\s]+$/);
  ajv.addSchema({ $id: "gh", components: openapiNullable(spec.components) });
  const compiled = new Map();
  const c = {
    spec,
    // Compile a schema from the description: `#/components/...` references resolve in it.
    compile(key, schema) {
      if (!compiled.has(key)) {
        const rewritten = openapiNullable(
          JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/components/', '"$ref":"gh#/components/')),
        );
        compiled.set(key, ajv.compile(rewritten));
      }
      return compiled.get(key);
    },
  };
  checkers.set(specName, c);
  return c;
}

// OpenAPI 3.0's `nullable` without a `type` (beside `allOf`, `anyOf`, `$ref`...) is not JSON
// Schema, and Ajv refuses it: such a schema becomes "this, or null", which is what it means.
function openapiNullable(node) {
  if (Array.isArray(node)) return node.map(openapiNullable);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = openapiNullable(v);
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: "null" }] };
  }
  // Nullable with an `enum`: OpenAPI 3.0 allows null, JSON Schema only if the enum lists it.
  if (out.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) {
    out.enum = [...out.enum, null];
  }
  return out;
}

function deref(spec, obj) {
  let seen = 0;
  while (obj && obj.$ref && seen++ < 10) {
    const path = obj.$ref.replace(/^#\//, "").split("/");
    obj = path.reduce((o, k) => o && o[k.replaceAll("~1", "/").replaceAll("~0", "~")], spec);
  }
  return obj;
}

const lines = readFileSync(logPath, "utf8").split("\n").filter((l) => l.trim() !== "");
let failures = 0;
let checked = 0;
for (const line of lines) {
  const entry = JSON.parse(line);
  const where = `${entry.spec}: ${entry.kind} ${entry.method.toUpperCase()} ${entry.path}${entry.status ? ` ${entry.status}` : ""}`;
  const c = checker(entry.spec);
  const operation = c.spec.paths[entry.path]?.[entry.method];
  if (!operation) {
    console.error(`FAIL ${where}: GitHub's description has no such operation`);
    failures++;
    continue;
  }
  let key;
  let schema;
  if (entry.kind === "request") {
    schema = deref(c.spec, operation.requestBody)?.content?.["application/json"]?.schema;
    key = `${entry.method} ${entry.path} request`;
    if (!schema) {
      console.error(`FAIL ${where}: the operation takes no JSON body`);
      failures++;
      continue;
    }
  } else {
    const documented = deref(c.spec, operation.responses?.[String(entry.status)]);
    schema = documented?.content?.["application/json"]?.schema;
    key = `${entry.method} ${entry.path} ${entry.status}`;
    if (!documented && entry.status < 400) {
      // A success GitHub never answers with (200 where it documents 204, say) is not faithful.
      console.error(`FAIL ${where}: the operation documents no ${entry.status} answer`);
      failures++;
      continue;
    }
    if (!schema) {
      if (entry.status < 400) {
        if (entry.body === null || entry.body === undefined) {
          checked++;
          continue;
        }
        console.error(`FAIL ${where}: the operation documents no body for ${entry.status}`);
        failures++;
        continue;
      }
      const generic = entry.status === 422 ? "validation-error" : "basic-error";
      schema = { $ref: `#/components/schemas/${generic}` };
      key = `generic ${generic}`;
    }
  }
  const validate = c.compile(key, schema);
  checked++;
  if (!validate(entry.body)) {
    failures++;
    console.error(`FAIL ${where}:`);
    for (const e of validate.errors.slice(0, 20)) {
      console.error(`  ${e.instancePath || "(root)"} ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}
if (failures > 0) {
  console.error(`${failures} of ${lines.length} bodies do not conform to GitHub's OpenAPI description`);
  process.exit(1);
}
console.log(`${checked} bodies conform to GitHub's OpenAPI description`);
