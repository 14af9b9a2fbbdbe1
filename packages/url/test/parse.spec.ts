import { codeOfSync, errorOfSync } from '@harmonics/conformance';
import { KNOWN_SCHEMES, parseTarget } from '@harmonics/url';

describe('parseTarget: both spellings of every scheme', () => {
  it.each([
    ['tcp:127.0.0.1:9000', { scheme: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['tcp://127.0.0.1:9000', { scheme: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['TCP://Example.org:1', { scheme: 'tcp', host: 'Example.org', port: 1 }],
    ['tcp://[::1]:9000', { scheme: 'tcp', host: '::1', port: 9000 }],
    ['tcp:[fe80::1]:65535', { scheme: 'tcp', host: 'fe80::1', port: 65535 }],
    ['grpc:localhost:50051', { scheme: 'grpc', host: 'localhost', port: 50051 }],
    ['grpc://my_host.internal:50051', { scheme: 'grpc', host: 'my_host.internal', port: 50051 }],
    ['ws://127.0.0.1:8080/tensors', { scheme: 'ws', host: '127.0.0.1', port: 8080, path: '/tensors' }],
    ['ws://127.0.0.1:8080', { scheme: 'ws', host: '127.0.0.1', port: 8080, path: '/' }],
    ['ws:127.0.0.1:8080/a/b', { scheme: 'ws', host: '127.0.0.1', port: 8080, path: '/a/b' }],
    ['ws://example.org/x', { scheme: 'ws', host: 'example.org', port: 80, path: '/x' }],
    ['wss://example.org/x', { scheme: 'wss', host: 'example.org', port: 443, path: '/x' }],
    ['flight:127.0.0.1:8815', { scheme: 'flight', host: '127.0.0.1', port: 8815 }],
    ['flight://127.0.0.1:8815/activations', { scheme: 'flight', host: '127.0.0.1', port: 8815, path: 'activations' }],
    ['flight:127.0.0.1:8815/layer%203', { scheme: 'flight', host: '127.0.0.1', port: 8815, path: 'layer 3' }],
    ['nats://127.0.0.1:4222/activations', { scheme: 'nats', host: '127.0.0.1', port: 4222, path: 'activations' }],
    ['nats:nats.internal/stage.2?stream=S', { scheme: 'nats', host: 'nats.internal', port: 4222, path: 'stage.2', params: { stream: 'S' } }],
    ['file:out.bin', { scheme: 'file', path: 'out.bin' }],
    ['file:/tmp/a b.bin', { scheme: 'file', path: '/tmp/a b.bin' }],
    ['file:data#1.bin', { scheme: 'file', path: 'data#1.bin' }],
    ['file:///tmp/a%20b.bin', { scheme: 'file', path: '/tmp/a b.bin' }],
    ['file://localhost/tmp/x.bin', { scheme: 'file', path: '/tmp/x.bin' }],
    ['unix:/run/h.sock', { scheme: 'unix', path: '/run/h.sock' }],
    ['unix:///run/h.sock', { scheme: 'unix', path: '/run/h.sock' }],
    ['socket:3', { scheme: 'socket', fd: 3 }],
    ['socket://0', { scheme: 'socket', fd: 0 }],
  ])('%s', (href, expected) => {
    expect(parseTarget(href)).toEqual({ href, params: {}, ...expected });
  });

  it('reads query parameters, decoded; a bare name has the value ""', () => {
    expect(parseTarget('tcp:h:1?timeoutMs=50&listen&name=a%26b').params).toEqual({ timeoutMs: '50', listen: '', name: 'a&b' });
    expect(parseTarget('file:x.bin?append=1').params).toEqual({ append: '1' });
  });

  it('port 0 is allowed only when listening', () => {
    expect(parseTarget('tcp:127.0.0.1:0?listen').port).toBe(0);
    expect(codeOfSync(() => parseTarget('tcp:127.0.0.1:0'))).toBe('ERR_UNSUPPORTED_SCHEME');
    expect(codeOfSync(() => parseTarget('tcp:127.0.0.1:0?listen=false'))).toBe('ERR_UNSUPPORTED_SCHEME');
  });

  it('knows every scheme of DESIGN §8', () => {
    expect([...KNOWN_SCHEMES].sort()).toEqual(['file', 'flight', 'grpc', 'nats', 'socket', 'tcp', 'unix', 'ws', 'wss']);
  });

  it('parses the schemes of explicitly passed transports as HOST:PORT targets', () => {
    expect(parseTarget('mem:local:1', ['mem'])).toMatchObject({ scheme: 'mem', host: 'local', port: 1 });
  });
});

describe('parseTarget: malformed targets are ERR_UNSUPPORTED_SCHEME naming the target', () => {
  it.each([
    ['127.0.0.1:9000', /no scheme/],
    ['localhost:9000', /unknown scheme "localhost:"/],
    ['http://127.0.0.1:80', /unknown scheme "http:".*expected one of file: socket: tcp:/],
    ['tcp:127.0.0.1', /missing port/],
    ['tcp:127.0.0.1:', /missing port/],
    ['grpc://127.0.0.1', /missing port/],
    ['tcp:127.0.0.1:65536', /out of range/],
    ['tcp:127.0.0.1:0', /out of range.*only with \?listen/],
    ['tcp:127.0.0.1:-1', /out of range/],
    ['tcp:127.0.0.1:80x', /out of range/],
    ['tcp::9000', /missing host/],
    ['tcp:bad host:9000', /not a valid host/],
    ['tcp:-bad.example:9000', /not a valid host/],
    ['tcp:300.1.1.1:9000', /not a valid host/],
    ['tcp:::1:9000', /IPv6 hosts go in brackets/],
    ['tcp:[::1:9000', /unclosed/],
    ['tcp:[::1]9000', /unexpected/],
    ['tcp:[nothex]:9000', /not an IPv6 address/],
    ['tcp://user@h:1', /user information/],
    ['tcp:h:1/path', /no path/],
    ['ws://h:1/x#frag', /fragment/],
    ['flight:h:1/a/b', /one path segment/],
    ['nats://h:4222', /nats:\/\/HOST:PORT\/SUBJECT/],
    ['nats://h:4222/a/b', /no spaces or "\/"/],
    ['file:', /missing path/],
    ['file://relative/x.bin', /absolute path/],
    ['unix:', /missing path/],
    ['socket:x', /file descriptor number/],
    ['socket:-1', /file descriptor number/],
    ['tcp:h:1?a=1&a=2', /given twice/],
    ['tcp:h:1?a=%zz', /percent-encoding/],
  ])('%s', (href, message) => {
    const err = errorOfSync(() => parseTarget(href));
    expect(err?.code).toBe('ERR_UNSUPPORTED_SCHEME');
    expect(err?.message).toContain(`"${href}"`);
    expect(err?.message).toMatch(message);
  });

  it('a target that is not a string', () => {
    expect(codeOfSync(() => parseTarget(9000 as unknown as string))).toBe('ERR_UNSUPPORTED_SCHEME');
  });
});
