// harmonics: the command line of Harmonics. `harmonics --help` lists the
// commands; `harmonics COMMAND --help` shows one with an example.
import { createRequire } from 'node:module';
import { isHarmonicsError } from '@harmonics/core';
import { Command, InvalidArgumentError, Option } from 'commander';
import { bench, cat, convert, inspect, pipeCommand, serve } from './commands.js';
import { parseSize } from './values.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

function size(v: string): number {
  try {
    return parseSize(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const voidOption = () =>
  new Option('--void-dtype <dtype>', "read .npy/.npz '|V2' arrays as this dtype (np.save writes ml_dtypes' bfloat16 so)").choices(['bfloat16']);

const TARGETS = `
Targets are files — .safetensors, .npy, .npz, HWTS/HNWT weight containers,
Harmonics record files (any other name) — or any @harmonics/url target:
tcp://HOST:PORT, unix:PATH, grpc://HOST:PORT, ws://HOST:PORT/PATH,
flight://HOST:PORT, nats://HOST:PORT/SUBJECT, file:PATH (add ?listen to be the server).`;

const program = new Command()
  .name('harmonics')
  .description('Look at, move, convert and serve tensor streams and files.')
  .version(version)
  .option('--debug', 'print stack traces with errors')
  .showHelpAfterError('(add --help for usage)')
  .addHelpText('after', TARGETS);

program
  .command('inspect')
  .description('per tensor: name, dtype, shape, bytes, min/max/mean and NaN count')
  .argument('<target...>', 'files or stream targets')
  .option('--json', 'print JSON instead of a table')
  .option('--limit <n>', 'stop after n tensors per target', positiveInt)
  .addOption(voidOption())
  .addHelpText('after', '\nExample:\n  $ harmonics inspect model.safetensors weights.npz\n  $ harmonics inspect --json activations.bin' + TARGETS)
  .action((targets: string[], o) => inspect(targets, o));

program
  .command('cat')
  .description('print tensors and their values, as numpy prints them')
  .argument('<target>', 'a file or a stream target')
  .option('--head <n>', 'only the first n tensors', positiveInt)
  .option('--threshold <n>', 'summarize tensors of more than n elements with ...', positiveInt, 1000)
  .addOption(voidOption())
  .addHelpText('after', '\nExample:\n  $ harmonics cat --head 2 model.safetensors' + TARGETS)
  .action((target: string, o) => cat(target, o));

program
  .command('pipe')
  .description('relay tensors from one target to another, with live progress')
  .argument('<from>', 'where to read')
  .argument('<to>', 'where to write')
  .option('--limit <n>', 'stop after n tensors', positiveInt)
  .option('--no-progress', 'no progress display')
  .addOption(voidOption())
  .addHelpText(
    'after',
    '\nProgress is a bar on a terminal and a line a second otherwise. Ctrl-C stops\ncleanly: what arrived is written and the output closed (exit code 130).\n\nExample:\n  $ harmonics pipe model.safetensors tcp://10.0.0.2:9000\n  $ harmonics pipe "tcp://0.0.0.0:9000?listen" received.npz' +
      TARGETS,
  )
  .action((from: string, to: string, o) => pipeCommand(from, to, o));

program
  .command('convert')
  .description('convert a file to another format, bit for bit (safetensors, .npy, .npz, HWTS, HNWT, record files)')
  .argument('<in>', 'the file to read')
  .argument('<out>', 'the file to write; its extension picks the format')
  .option('--no-progress', 'no progress display')
  .addOption(voidOption())
  .addHelpText(
    'after',
    '\nNames are kept where both formats have them; unnamed tensors become arr_0, arr_1…\n\nExample:\n  $ harmonics convert weights.npz weights.safetensors\n  $ harmonics convert activations.bin activations.npz',
  )
  .action((input: string, output: string, o) => convert(input, output, o));

program
  .command('serve')
  .description('run a tcp, grpc, ws or flight server; print what arrives, or write it to --out')
  .argument('<transport>', 'tcp, grpc, ws or flight')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port to bind (tcp 9000, grpc 50051, ws 8080, flight 8815)', positiveInt)
  .option('--out <target>', 'write every stream that arrives to this target (kept open until the server stops)')
  .option('--in <target>', 'send this file or stream to the first client that reads, then stop')
  .option('--once', 'stop after the first stream')
  .addOption(voidOption())
  .addHelpText(
    'after',
    '\nIt prints its address, and closes gracefully on Ctrl-C or SIGTERM.\n\nExample:\n  $ harmonics serve tcp --port 9000 --out received.bin\n  $ harmonics pipe model.safetensors tcp://127.0.0.1:9000   # in another terminal',
  )
  .action((transport: string, o) => serve(transport, o));

program
  .command('bench')
  .description('throughput and latency of one hop: write to <write>, read from <read>')
  .argument('<write>', 'the target the writer pushes to')
  .argument('<read>', 'the target the reader reads from (add ?listen to one of the two)')
  .option('--size <bytes>', 'tensor size for the throughput run', size, 4 * 1024 * 1024)
  .option('--count <n>', 'tensors in the throughput run', positiveInt, 64)
  .option('--json', 'print JSON')
  .addHelpText(
    'after',
    '\nExample:\n  $ harmonics bench tcp://127.0.0.1:9000 "tcp://127.0.0.1:9000?listen"\n  $ harmonics bench --size 1KiB --count 10000 ws://127.0.0.1:8080/ "ws://127.0.0.1:8080/?listen"',
  )
  .action((write: string, read: string, o) => bench(write, read, o));

program.parseAsync(process.argv).catch((err: unknown) => {
  const debug = program.opts().debug === true;
  if (isHarmonicsError(err)) console.error(`harmonics: ${err.code}: ${err.message}`);
  else console.error(`harmonics: ${(err as Error)?.message ?? String(err)}`);
  if (debug && err instanceof Error) console.error(err.stack, err.cause !== undefined ? err.cause : '');
  process.exitCode = 1;
  // A transport left half-open by the failure must not keep the command alive.
  setTimeout(() => process.exit(1), 2000).unref();
});
