// pi-edge's guard around a JavaScript actor's handler.handle: 'pi-edge build' makes it the component's
// entry, next to the actor's own actor.js.
//
// componentize-js turns a thrown string into the err of the reply, but a thrown Error traps and its
// message is lost.  Here an Error is answered with its name, its message and the actor's own frames
// (file, line, function; innermost first), behind a mark the host recognises, so the host still treats
// it as a trap (a fresh instance, counted by supervision).  A reply that is not bytes is named too:
// componentize-js would send a string as nothing at all.
import * as actor from './actor.js';

const MARK = 'pi-edge-uncaught: ';
const MAX_FRAMES = 12;
const MAX_TEXT = 300;
const ENTRY = '__pi_edge_entry.js';

function oneLine(text) {
  const flat = String(text).split(/\s+/).filter(Boolean).join(' ');
  return flat.length <= MAX_TEXT ? flat : flat.slice(0, MAX_TEXT) + '...';
}

function frames(stack) {
  const lines = [];
  for (const line of String(stack || '').split('\n')) {
    const at = line.lastIndexOf('@');
    if (at < 0) continue;
    const where = line.slice(at + 1);
    if (where.includes(ENTRY) || where.includes('initializer.js') || where.startsWith('/')) continue;
    const parts = where.split(':');
    const file = parts.slice(0, -2).join(':') || where;
    lines.push(`${file}:${parts[parts.length - 2] || '?'} in ${line.slice(0, at) || '(module)'}`);
  }
  return lines.length > MAX_FRAMES ? [...lines.slice(0, MAX_FRAMES), `... ${lines.length - MAX_FRAMES} more`] : lines;
}

function describe(e) {
  if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
    const name = typeof e.name === 'string' && e.name ? e.name : 'Error';
    const text = oneLine(e.message);
    return [MARK + name + (text ? ': ' + text : ''), ...frames(e.stack)].join('\n');
  }
  return `${MARK}${typeof e}: ${oneLine(e)}`;
}

function thrown(e) {
  if (typeof e === 'string') return e;  // the actor's own err
  if (e !== null && typeof e === 'object' && typeof e.payload === 'string') return e.payload;  // an import's err
  return describe(e);
}

function checked(reply) {
  if (reply instanceof Uint8Array) return reply;
  if (reply instanceof ArrayBuffer) return new Uint8Array(reply);
  if (Array.isArray(reply)) return Uint8Array.from(reply);
  if (typeof reply === 'string') {
    throw `${MARK}TypeError: handle returned a string, not bytes: encode it, e.g. return new TextEncoder().encode(text)`;
  }
  throw `${MARK}TypeError: handle returned ${reply === null ? 'null' : typeof reply}, not bytes (a Uint8Array)`;
}

export const handler = {
  handle(msg) {
    const handle = actor.handler && actor.handler.handle;
    if (typeof handle !== 'function') {
      throw `${MARK}TypeError: actor.js exports no handler with a handle method: ` +
        'export const handler = { handle(msg) { ... } }';
    }
    let reply;
    try {
      reply = handle.call(actor.handler, msg);
    } catch (e) {
      throw thrown(e);
    }
    if (reply !== null && typeof reply === 'object' && typeof reply.then === 'function') {
      return reply.then(checked, (e) => { throw thrown(e); });
    }
    return checked(reply);
  },
};
