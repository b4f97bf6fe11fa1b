// A test actor in JavaScript whose bugs are on purpose: "boom" reads a property of undefined two frames
// down, "type" passes an alignment the WIT does not have (the bindings throw), "str" returns a string,
// "err" throws a string (its own err), "panel" shows the text and logs, anything else is echoed.
import { showText } from 'pi-edge:actor/display@0.1.0';
import { log } from 'pi-edge:actor/logging@0.1.0';

const encoder = new TextEncoder();

function settings(config) {
  return config.display.contrast;
}

export const handler = {
  handle(msg) {
    const text = new TextDecoder().decode(msg.body);
    if (text === 'boom') return encoder.encode(String(settings({})));
    if (text === 'type') showText('x', { align: 'middle', wrap: true, fontSize: undefined });
    if (text === 'str') return 'a string';
    if (text === 'err') throw 'a reason of its own';
    if (text === 'panel') {
      const layout = showText('JS', { align: 'left', wrap: false, fontSize: 20 });
      log('warn', 'crash-js', `lines=${layout.lines}`);
      return encoder.encode(`lines=${layout.lines} size=${layout.fontSize}`);
    }
    return encoder.encode('echo:' + text);
  },
};
