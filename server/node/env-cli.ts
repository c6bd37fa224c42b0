/**
 * `tilesmith env …`: manage function environments (see server/udf/python/envs.ts).
 *
 *   tilesmith env create NAME [--python PATH] [--system-site-packages] [--requirements FILE] [--wheelhouse DIR]
 *   tilesmith env install NAME PKG… [--wheelhouse DIR]
 *   tilesmith env list
 *   tilesmith env remove NAME
 *
 * All take `--env-dir DIR` (default `$TILESMITH_ENV_DIR` or `.tilesmith/envs`, as `serve`).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_ENV_DIR, EnvInUseError, createEnv, installIntoEnv, listEnvs, removeEnv, type EnvInfo } from '../udf/python/envs.ts';

export const ENV_HELP = `tilesmith env — function environments for Python UDFs (a UDF selects one with "environment": "NAME")

  tilesmith env create NAME [--python PATH] [--system-site-packages] [--requirements FILE] [--wheelhouse DIR]
  tilesmith env install NAME PKG… [--wheelhouse DIR]   (PKG: a name found in the wheelhouse, or a path to a wheel or project)
  tilesmith env list
  tilesmith env remove NAME                            (refused while a running server's UDF uses it)

Options:
  --env-dir DIR             where environments live (default $TILESMITH_ENV_DIR or ${DEFAULT_ENV_DIR})
  --python PATH             base interpreter (default /usr/bin/python3)
  --system-site-packages    the environment also sees the system's packages (Debian's numpy, pandas, geopandas)
  --requirements FILE       install these requirements after creating it
  --wheelhouse DIR          folder of wheels pip installs from; pip never goes online (--no-index)
`;

function line(e: EnvInfo): string {
  const pkgs = e.packages.filter((p) => !['pip', 'setuptools', 'wheel'].includes(p.name.toLowerCase()));
  return `${e.name}  Python ${e.version ?? '(broken)'}${e.systemSitePackages ? ' +system packages' : ''}  ${pkgs.map((p) => `${p.name}==${p.version}`).join(' ') || '(no packages)'}${e.usedBy.length ? `  used by ${e.usedBy.join(', ')}` : ''}`;
}

/** Runs `tilesmith env ARGS…`; returns the process exit code. */
export async function runEnvCommand(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'env-dir': { type: 'string' },
        python: { type: 'string' },
        'system-site-packages': { type: 'boolean' },
        requirements: { type: 'string' },
        wheelhouse: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    err.write(`tilesmith env: ${(e as Error).message}\n\n${ENV_HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [sub, name, ...rest] = positionals;
  if (v.help || !sub) {
    out.write(ENV_HELP);
    return 0;
  }
  const root = v['env-dir'] ?? process.env.TILESMITH_ENV_DIR ?? DEFAULT_ENV_DIR;
  const needName = () => {
    if (!name) throw new Error(`env ${sub} needs the environment's name`);
    return name;
  };
  try {
    switch (sub) {
      case 'create': {
        if (rest.length) throw new Error(`unexpected arguments: ${rest.join(' ')} (install packages with \`tilesmith env install\`)`);
        const e = await createEnv(root, needName(), { python: v.python, systemSitePackages: v['system-site-packages'], requirements: v.requirements, wheelhouse: v.wheelhouse });
        out.write(`created ${line(e)}\n`);
        return 0;
      }
      case 'install': {
        const e = await installIntoEnv(root, needName(), rest, { wheelhouse: v.wheelhouse });
        out.write(`installed into ${line(e)}\n`);
        return 0;
      }
      case 'list': {
        const envs = await listEnvs(root);
        out.write(envs.length ? `${envs.map(line).join('\n')}\n` : `no environments in ${root}\n`);
        return 0;
      }
      case 'remove': {
        removeEnv(root, needName());
        out.write(`removed ${name}\n`);
        return 0;
      }
      default:
        err.write(`tilesmith env: unknown subcommand '${sub}'\n\n${ENV_HELP}`);
        return 2;
    }
  } catch (e) {
    err.write(`tilesmith env ${sub}: ${(e as Error).message}\n`);
    return e instanceof EnvInUseError ? 3 : 1;
  }
}
