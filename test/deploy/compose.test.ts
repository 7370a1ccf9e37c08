/**
 * Docker cannot run on these machines, so docker-compose.yml and the Dockerfile are checked here
 * against what can be known without it: the YAML parses; every image is pinned (no `latest`); the
 * Temporal services follow Temporal's own current compose (server image + one-shot schema setup +
 * namespace creation, never auto-setup) with the environment variables those images document; the
 * worker's environment names are ones durabox reads; depends_on conditions are valid; the search
 * attributes registered equal SEARCH_ATTRIBUTES; the Dockerfile passes a few simple lint rules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  environment?: Record<string, string> | string[];
  env_file?: string | string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
  restart?: string;
  volumes?: string[];
  entrypoint?: string[];
  command?: string[] | string;
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;

function envOf(s: Service): Record<string, string> {
  if (!s.environment) return {};
  if (Array.isArray(s.environment)) return Object.fromEntries(s.environment.map((e) => [e.split('=')[0], e.split('=').slice(1).join('=')]));
  return s.environment;
}

/** Every source file durabox runs (not tests), concatenated: the names it can read come from here. */
function duraboxSources(): string {
  let text = '';
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) text += readFileSync(p, 'utf8');
    }
  };
  for (const d of ['cli', 'providers', 'activities', 'workflows']) walk(join(ROOT, d));
  return text;
}

/**
 * Variables the published images read, from their own configuration templates:
 * temporalio/server — the `DB`, `POSTGRES_*`, `BIND_ON_IP`, `DYNAMIC_CONFIG_FILE_PATH` set by
 * temporalio/samples-server compose/docker-compose-postgres.yml; temporalio/ui — ui-server
 * docker/config-template.yaml; postgres — the official image's POSTGRES_USER/POSTGRES_PASSWORD.
 */
const IMAGE_ENV: Record<string, string[]> = {
  'temporalio/server': ['DB', 'DB_PORT', 'POSTGRES_USER', 'POSTGRES_PWD', 'POSTGRES_SEEDS', 'BIND_ON_IP', 'DYNAMIC_CONFIG_FILE_PATH'],
  'temporalio/ui': ['TEMPORAL_ADDRESS', 'TEMPORAL_DEFAULT_NAMESPACE', 'TEMPORAL_CORS_ORIGINS', 'TEMPORAL_UI_PORT', 'TEMPORAL_CODEC_ENDPOINT'],
  postgres: ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB'],
};

const imageName = (image: string) => image.split(':')[0]!;
const imageTag = (image: string) => image.split(':')[1];

describe('docker-compose.yml', () => {
  it('pins every image to a version (no latest, no floating major), and builds the worker from the Dockerfile', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'worker') {
        expect(s.image).toBeUndefined();
        expect(s.build).toMatchObject({ context: '.', dockerfile: 'Dockerfile' });
        continue;
      }
      expect(s.image, name).toBeDefined();
      const tag = imageTag(s.image!);
      expect(tag, `${name}: ${s.image}`).toMatch(/^\d+\.\d+(\.\d+)?([-.][\w.-]+)?$/);
      expect(s.image).not.toMatch(/latest|\$\{/);
    }
  });

  it("runs Temporal the way Temporal's current compose does: schema setup, server, namespace; never auto-setup", () => {
    const images = Object.values(services).map((s) => s.image ?? '');
    expect(images.some((i) => i.startsWith('temporalio/auto-setup'))).toBe(false);
    expect(imageName(services.temporal!.image!)).toBe('temporalio/server');
    expect(imageName(services['temporal-schema']!.image!)).toBe('temporalio/admin-tools');
    // Server and admin-tools come from the same release.
    expect(imageTag(services['temporal-schema']!.image!)).toBe(imageTag(services.temporal!.image!));
    expect(envOf(services.temporal!).DB).toBe('postgres12');

    const setup = read('deploy/temporal/setup-postgres.sh');
    for (const verb of ['create', 'setup-schema -v 0.0', 'update-schema -d']) expect(setup).toContain(verb);
    expect(setup).toMatch(/for db in temporal temporal_visibility/);
    expect(setup).toContain('/etc/temporal/schema/postgresql/v12');
    expect(read('deploy/temporal/create-namespace.sh')).toMatch(/temporal operator namespace create/);

    const ui = services['temporal-ui']!.image!;
    expect(imageName(ui)).toBe('temporalio/ui');
    const [major, minor] = imageTag(ui)!.split('.').map(Number);
    expect(major! > 2 || (major === 2 && minor! >= 49), `${ui} must be 2.49 or later to show user metadata`).toBe(true);
  });

  it('sets only environment variables the images and scripts document', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'worker' || !s.image) continue;
      const known = IMAGE_ENV[imageName(s.image)];
      const env = Object.keys(envOf(s));
      if (known) {
        for (const k of env) expect(known, `${name}: ${k}`).toContain(k);
        continue;
      }
      // admin-tools one-shots: every variable must be read by the script the service runs.
      expect(imageName(s.image)).toBe('temporalio/admin-tools');
      const script = (Array.isArray(s.command) ? s.command[0] : s.command)!;
      expect(script).toMatch(/^\/deploy\/[\w-]+\.sh$/);
      const body = read(join('deploy/temporal', script.replace('/deploy/', '')));
      for (const k of env) expect(body, `${name}: ${k} is not read by ${script}`).toMatch(new RegExp(`\\$\\{?${k}\\b`));
    }
  });

  it("mounts the scripts and dynamic config that exist, and the scripts are executable sh", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const host = v.split(':')[0]!;
        if (!host.startsWith('./')) {
          expect(compose.volumes ?? {}, `${name}: named volume ${host}`).toHaveProperty(host);
          continue;
        }
        expect(existsSync(join(ROOT, host)), `${name}: ${host}`).toBe(true);
      }
    }
    for (const f of readdirSync(join(ROOT, 'deploy/temporal')).filter((f) => f.endsWith('.sh'))) {
      const p = join(ROOT, 'deploy/temporal', f);
      expect(statSync(p).mode & 0o111, f).not.toBe(0);
      execFileSync('sh', ['-n', p]); // parses as POSIX sh
    }
    const dyn = parse(read('deploy/temporal/dynamicconfig/development-sql.yaml')) as Record<string, Array<{ value: unknown }>>;
    expect(dyn['frontend.enableExecuteMultiOperation']?.[0]?.value).toBe(true); // update-with-start
    // As on the embedded server: a database read per upsert buys nothing with SQL visibility.
    expect(dyn['system.forceSearchAttributesCacheRefreshOnRead']?.[0]?.value).toBe(false);
    expect(envOf(services.temporal!).DYNAMIC_CONFIG_FILE_PATH).toBe('config/dynamicconfig/development-sql.yaml');
  });

  it('has valid depends_on conditions that point at services able to meet them', () => {
    const valid = ['service_started', 'service_healthy', 'service_completed_successfully'];
    for (const [name, s] of Object.entries(services)) {
      expect(Array.isArray(s.depends_on), `${name}: use the long form with a condition`).toBe(false);
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(services, `${name} depends on unknown ${dep}`).toHaveProperty(dep);
        expect(valid).toContain(condition);
        if (condition === 'service_healthy') expect(services[dep]!.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') {
          // A one-shot: it must be allowed to exit, so it never restarts unconditionally.
          expect(['always', 'unless-stopped']).not.toContain(services[dep]!.restart);
        }
      }
    }
    // The order that makes a first `up` work: schema → server → namespace → search attributes → workers.
    expect(services.temporal!.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(services['durabox-search-attributes']!.depends_on).toMatchObject({ 'temporal-namespace': { condition: 'service_completed_successfully' } });
    expect(services.worker!.depends_on).toMatchObject({ 'durabox-search-attributes': { condition: 'service_completed_successfully' } });
  });

  it('registers exactly the search attributes durabox defines', () => {
    const s = services['durabox-search-attributes']!;
    const args = (s.command as string[]).slice(1);
    expect(Object.fromEntries(args.map((a) => a.split('=') as [string, string]))).toEqual(SEARCH_ATTRIBUTES);
    expect(envOf(s).TEMPORAL_NAMESPACE).toBe(envOf(services.worker!).TEMPORAL_NAMESPACE);
  });

  it("gives the worker only names durabox reads, and credentials from an uncommitted env file", () => {
    const w = services.worker!;
    const env = envOf(w);
    for (const required of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'DURABOX_TASK_QUEUE']) expect(env).toHaveProperty(required);
    expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
    const sources = duraboxSources();
    for (const k of Object.keys(env)) expect(sources, `durabox never reads ${k}`).toContain(k);
    // Scaled replicas must not share a state dir: no named or bind volume for it; the image
    // declares it an (anonymous, per-container) VOLUME.
    expect(w.volumes).toBeUndefined();
    expect(read('Dockerfile')).toContain(`VOLUME ["${env.DURABOX_STATE_DIR}"]`);

    expect(w.env_file).toBe('.env.workers');
    expect(read('.gitignore').split('\n')).toContain('.env.workers');
    expect(read('.dockerignore').split('\n')).toContain('.env.workers');
    const example = read('.env.workers.example').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(example.length).toBeGreaterThan(0);
    for (const line of example) {
      expect(line, 'names only, no values').toMatch(/^[A-Z][A-Z0-9_]*=$/);
      expect(sources, `durabox never reads ${line}`).toContain(line.slice(0, -1));
    }
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const instr = (name: string) => lines.filter((l) => l.toUpperCase().startsWith(`${name} `));

  it('builds on a pinned node:20 bookworm-slim and never pipes a download into a shell', () => {
    for (const from of instr('FROM')) {
      const image = from.split(/\s+/)[1]!;
      expect(image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    }
    expect(text).not.toMatch(/(curl|wget)[^\n|]*\|\s*(ba|z)?sh/);
    expect(text).not.toMatch(/\bADD\s+https?:/i);
  });

  it('installs the SSH tools, builds with npm ci and npm run build, and runs the worker as a non-root user', () => {
    for (const pkg of ['openssh-client', 'rsync', 'git']) expect(text).toMatch(new RegExp(`install[^\\n]*(\\n[^\\n]*)?\\b${pkg}\\b`));
    expect(text).toContain('--no-install-recommends');
    expect(text).toContain('rm -rf /var/lib/apt/lists/*');
    expect(text).toMatch(/RUN npm ci\b/);
    expect(text).toMatch(/npm run build/);
    const users = instr('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/USER\s+(root|0)(:|$)/);
    const cmd = instr('CMD').at(-1)!;
    expect(JSON.parse(cmd.slice(4))).toEqual(['node', 'dist/cli/main.js', 'worker']);
    // The entry the CMD names is what `npm run build` produces.
    expect(JSON.parse(read('package.json')).bin.durabox).toBe('dist/cli/main.js');
  });
});
