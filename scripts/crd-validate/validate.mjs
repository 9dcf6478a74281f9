// Reads rendered manifests (multi-document YAML) on stdin and validates every custom resource of
// KEDA, the Prometheus Operator and Strimzi against its CRD schema; core objects are left to
// kubernetes-validate. Exits 1 naming each invalid object; an unknown custom kind is an error too.
import { parseAllDocuments } from "yaml";

const packages = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
};

const text = await new Promise((resolve) => {
  let s = "";
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => resolve(s));
});
let failed = 0;
let checked = 0;
for (const doc of parseAllDocuments(text)) {
  const obj = doc.toJS();
  if (!obj || !obj.apiVersion || !obj.apiVersion.includes("/")) continue;
  const [group, version] = obj.apiVersion.split("/");
  if (!group.includes(".") || group.endsWith(".k8s.io")) continue;
  const pkg = packages[group];
  const name = `${obj.kind} ${obj.metadata?.name}`;
  if (!pkg) {
    console.error(`${name}: no schema for custom group ${group}`);
    failed++;
    continue;
  }
  try {
    const mod = await import(`${pkg}/${group}/${version}/${obj.kind}`);
    new mod[obj.kind](obj).validate();
    checked++;
  } catch (e) {
    console.error(`${name}: ${e.message}`);
    failed++;
  }
}
console.log(`custom resources valid: ${checked}, invalid: ${failed}`);
process.exit(failed ? 1 : 0);
