// 'pi-edge build' for a JavaScript actor: componentize-js, with every WASI feature turned off, so the
// component imports only what the world grants (display, logging).
//
//   node componentize.mjs TOOLCHAIN_DIR ENTRY.js WIT_DIR WORLD OUT.wasm
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolchain, sourcePath, witPath, worldName, out] = process.argv.slice(2);
const module = join(toolchain, 'node_modules', '@bytecodealliance', 'componentize-js', 'src', 'componentize.js');
const { componentize } = await import(pathToFileURL(module).href);
const { component } = await componentize({
  sourcePath, witPath, worldName,
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
