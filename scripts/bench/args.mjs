// The benchmarks' command line: `--name value` options and bare `--name` switches.

/** The value after `--name`, or `fallback`. */
export const arg = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);

/** Whether the switch `--name` was given. */
export const flag = (name) => process.argv.includes(`--${name}`);
