// The convergence scenario, shared by test/queue/convergence.test.ts (about a minute) and
// bench/convergence.ts (five minutes of writes): worker and writer processes, a CRM that fails in
// every way a real one does, a worker killed with kill -9, another paused past its lease (SIGSTOP,
// SIGCONT), a PostgreSQL restart, optionally a CRM outage; then the CRM is compared with the database.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, migrateEtlify, NullAdapter } from '../../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../../src/testing/simulators.ts';
import type { RecordedRequest } from '../../../src/testing/simulator-server.ts';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../postgres.ts';
import { crmOptions, LATE_MS } from './crm.ts';
import { Company, entities, Member, memberPayload, Tag } from './model.ts';

export interface ScenarioOptions {
  writeMs: number;
  workers: number;
  writers: number;
  /** When (ms after the writers start) one worker is killed with SIGKILL. */
  killAtMs?: number;
  /** When another worker is stopped (SIGSTOP), and for how long before SIGCONT: past its lease and `deadWorkerAfterMs`. */
  pauseAtMs?: number;
  pauseForMs?: number;
  /** When the database goes down, and for how long. */
  restartAtMs?: number;
  restartForMs?: number;
  /** When the CRM goes down (every request answered 503), and for how long. */
  crmOutageAtMs?: number;
  crmOutageForMs?: number;
  leaseMs: number;
  /** The workers' `deadWorkerAfterMs`. Default: `leaseMs`. */
  deadWorkerAfterMs?: number;
  /** How long the CRM gets to converge once the writers stopped. */
  convergeWithinMs: number;
  log?: (line: string) => void;
}

export interface ScenarioReport {
  /** Live members whose contact differs or is missing + removed members still in the CRM + duplicate contacts. */
  divergent: number;
  details: string[];
  /** From the writers' end to convergence (or the limit). */
  drainMs: number;
  /** Writes of one contact whose receipt-to-application spans overlapped. */
  overlaps: number;
  changes: number;
  writeRequests: number;
  liveMembers: number;
  /** Worker processes other than the killed one that were still running at the end. */
  survivingWorkers: number;
  /** graphile-worker jobs still locked at the end by a worker that is not running (the killed one). */
  jobsLockedByDeadWorkers: number;
  faultsInjected: Record<string, number>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export async function runConvergenceScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const log = options.log ?? (() => {});
  const folder = mkdtempSync(join(tmpdir(), 'etlify-convergence-'));
  const port = await freePort();
  let db: EmbeddedServer = await startEmbeddedPostgres({ dataDir: join(folder, 'data'), port });
  const faults = {
    rateLimitProbability: 0.08, serverErrorProbability: 0.08, resetProbability: 0.05,
    resetAfterApplyProbability: 0.08, lateProbability: 0.08, lateMs: LATE_MS,
  };
  const simulator = await startHubspotSimulator({ rateLimit: { maxRequests: 100, perMs: 10_000 }, faults });
  const children: ChildProcess[] = [];
  const etlify = new Etlify({ crms: { hubspot: crmOptions(new NullAdapter()) } });
  const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify], pool: { max: 4 } });
  try {
    await orm.schema.create();
    await migrateEtlify(orm);
    const em = orm.em.fork();
    for (let i = 0; i < 20; i++) em.create(Company, { name: `company-${i}` });
    const tags = Array.from({ length: 15 }, (_, i) => em.create(Tag, { name: `tag-${i}` }));
    await em.flush();
    // members to start with, synced by the workers once they start
    for (let i = 0; i < 40; i++) em.create(Member, { email: `seed-${i}@example.test`, name: `seed-${i}`, tags: tags.filter((_, t) => t % 4 === i % 4) });
    await em.flush();

    const spawnNode = (file: string, args: string[]) => {
      const child = spawn(process.execPath, ['--conditions=etlify-source', here(file), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', chunk => { stderr = (stderr + chunk).slice(-4000); });
      children.push(child);
      return { child, stderr: () => stderr, exit: new Promise<number | null>(resolve => child.once('exit', code => resolve(code))) };
    };
    const ready = (child: ChildProcess) => new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', chunk => { if (String(chunk).includes('ready')) resolve(); });
      child.once('exit', code => reject(new Error(`worker exited with ${code} before it was ready`)));
    });
    const workers = Array.from({ length: options.workers }, () => spawnNode('worker.ts', [db.url, simulator.url, String(options.leaseMs), String(options.deadWorkerAfterMs ?? options.leaseMs)]));
    await Promise.all(workers.map(w => ready(w.child)));
    log(`${options.workers} workers ready`);

    const started = Date.now();
    const writers = Array.from({ length: options.writers }, (_, i) => {
      const writer = spawnNode('writer.ts', [db.url, String(i), String(options.writeMs), String(i + 1)]);
      let out = '';
      writer.child.stdout!.on('data', chunk => { out += chunk; });
      return { ...writer, result: writer.exit.then(() => JSON.parse(out.trim().split('\n').at(-1) || '{}') as { changes?: number; failures?: number }) };
    });
    const at = (ms: number) => new Promise(resolve => setTimeout(resolve, Math.max(0, started + ms - Date.now())));
    const kill = (async () => {
      if (options.killAtMs === undefined) return;
      await at(options.killAtMs);
      workers[0]!.child.kill('SIGKILL');
      log(`killed worker 1 at ${Date.now() - started} ms`);
    })();
    const pause = (async () => {
      if (options.pauseAtMs === undefined) return;
      await at(options.pauseAtMs);
      workers[1]!.child.kill('SIGSTOP');
      log(`paused worker 2 at ${Date.now() - started} ms`);
      await at(options.pauseAtMs + (options.pauseForMs ?? 0));
      workers[1]!.child.kill('SIGCONT');
      log(`resumed worker 2 at ${Date.now() - started} ms`);
    })();
    const restart = (async () => {
      if (options.restartAtMs === undefined) return;
      await at(options.restartAtMs);
      await db.stop();
      log(`database down at ${Date.now() - started} ms`);
      await new Promise(resolve => setTimeout(resolve, options.restartForMs ?? 0));
      db = await startEmbeddedPostgres({ dataDir: join(folder, 'data'), port });
      log(`database up at ${Date.now() - started} ms`);
    })();
    const outage = (async () => {
      if (options.crmOutageAtMs === undefined) return;
      await at(options.crmOutageAtMs);
      simulator.setFaults({ serverErrorProbability: 1 });
      log(`CRM down (503 to everything) at ${Date.now() - started} ms`);
      await at(options.crmOutageAtMs + (options.crmOutageForMs ?? 0));
      simulator.setFaults(faults);
      log(`CRM back at ${Date.now() - started} ms`);
    })();
    const results = await Promise.all(writers.map(w => w.result));
    await Promise.all([kill, pause, restart, outage]);
    const changes = results.reduce((sum, r) => sum + (r.changes ?? 0), 0);
    log(`writers done: ${changes} committed changes, ${results.reduce((sum, r) => sum + (r.failures ?? 0), 0)} failed steps`);

    const faultsInjected = countFaults(simulator.requests);
    simulator.setFaults({});
    const writersDone = Date.now();
    let check = await compare(orm, simulator);
    for (let polls = 1; check.divergent > 0 && Date.now() - writersDone < options.convergeWithinMs; polls++) {
      await new Promise(resolve => setTimeout(resolve, 500));
      check = await compare(orm, simulator);
      if (polls % 10 === 0) log(`${Math.round((Date.now() - writersDone) / 1000)} s after the writers: ${check.divergent} divergent; ${await queueState(orm)}`);
    }
    const drainMs = Date.now() - writersDone;
    // what happened to the first divergent records, to tell a lost request from a lost write
    for (const email of [...new Set(check.details.map(d => d.split(':')[0]!))].slice(0, 3)) log(`story of ${email}: ${await story(orm, simulator, email)}`);
    const survivingWorkers = workers.slice(1).filter(w => w.child.exitCode === null && w.child.signalCode === null).length;
    const alive = workers.filter(w => w.child.exitCode === null && w.child.signalCode === null).map(w => w.child.pid);
    for (const w of workers.slice(1)) if (w.child.exitCode !== null) log(`worker exited ${w.child.exitCode}: ${w.stderr()}`);
    return {
      ...check, drainMs, changes, survivingWorkers, faultsInjected,
      jobsLockedByDeadWorkers: await jobsLockedByDeadWorkers(orm, alive as number[]),
      overlaps: overlappingWrites(simulator).length,
      writeRequests: simulator.requests.filter(isWrite).length,
    };
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await orm.close(true).catch(() => {});
    await simulator.close();
    await db.stop().catch(() => {});
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The CRM against the database: every live member's contact exact, nothing else there. */
async function compare(orm: MikroORM, simulator: HubspotSimulator) {
  const members = await orm.em.fork().getConnection().execute<{ email: string; name: string; company: string | null; tags: string[] }[]>(
    `select m.email, m.name, c.name as company,
            array(select t.name from cv_member_tags mt join cv_tag t on t.id = mt.tag_id where mt.member_id = m.id) as tags
       from cv_member m left join cv_company c on c.id = m.company_id`);
  const contacts = Map.groupBy(simulator.objects('contacts'), c => String(c.properties.email ?? '').toLowerCase());
  const details: string[] = [];
  for (const member of members) {
    const expected = memberPayload({ ...member, company: member.company === null ? null : { name: member.company }, tags: member.tags.map(name => ({ name })) });
    const found = contacts.get(member.email.toLowerCase()) ?? [];
    if (found.length !== 1) { details.push(`${member.email}: ${found.length} contacts`); continue; }
    const props = found[0]!.properties;
    for (const [key, value] of Object.entries(expected)) {
      if ((props[key] ?? '') !== value) details.push(`${member.email}: ${key} is ${JSON.stringify(props[key])}, expected ${JSON.stringify(value)}`);
    }
  }
  const live = new Set(members.map(m => m.email.toLowerCase()));
  for (const [email, found] of contacts) if (!live.has(email)) details.push(`${email}: removed, still ${found.length} contact(s) in the CRM`);
  return { divergent: details.length, details: details.slice(0, 20), liveMembers: members.length };
}

const isWrite = (r: RecordedRequest) => r.method !== 'GET' && !r.path.endsWith('/search');

/**
 * Pairs of writes to one contact whose spans (receipt to application) overlap: what per-record
 * exclusivity and the unknown-outcome wait must prevent. Contacts are keyed by email; writes that
 * name only an id are mapped through every id the simulator ever answered with.
 */
export function overlappingWrites(simulator: HubspotSimulator): [RecordedRequest, RecordedRequest][] {
  const emailOf = new Map<string, string>();
  const learn = (value: unknown) => {
    const o = value as { id?: unknown; properties?: { email?: unknown } } | undefined;
    if (o?.id !== undefined && typeof o.properties?.email === 'string') emailOf.set(String(o.id), o.properties.email.toLowerCase());
  };
  for (const r of simulator.requests) {
    const response = r.response as { results?: unknown[] } | undefined;
    if (Array.isArray(response?.results)) response.results.forEach(learn); else learn(response);
  }
  const keysOf = (r: RecordedRequest): string[] => {
    const body = r.body as { inputs?: { id?: string; properties?: { email?: string } }[]; properties?: { email?: string } } | undefined;
    const idFromPath = /\/contacts\/([^/]+)$/.exec(r.path)?.[1];
    const inputs = body?.inputs ?? [{ id: idFromPath, properties: body?.properties }];
    return inputs.map(i => (i.properties?.email ?? (i.id ? emailOf.get(String(i.id)) ?? (r.path.endsWith('/batch/upsert') ? String(i.id) : `id:${i.id}`) : '')).toLowerCase()).filter(Boolean);
  };
  const spans = new Map<string, RecordedRequest[]>();
  for (const r of simulator.requests.filter(r => isWrite(r) && r.appliedAt !== undefined)) {
    for (const key of keysOf(r)) spans.set(key, [...(spans.get(key) ?? []), r]);
  }
  const overlaps: [RecordedRequest, RecordedRequest][] = [];
  for (const writes of spans.values()) {
    writes.sort((a, b) => a.receivedAt - b.receivedAt);
    for (let i = 1; i < writes.length; i++) {
      if (writes[i]!.receivedAt < writes[i - 1]!.appliedAt!) overlaps.push([writes[i - 1]!, writes[i]!]);
    }
  }
  return overlaps;
}

function countFaults(requests: RecordedRequest[]): Record<string, number> {
  const counts: Record<string, number> = { status429: 0, status5xx: 0, noAnswer: 0, appliedWithoutAnswer: 0 };
  for (const r of requests) {
    if (r.status === 429) counts.status429!++;
    else if (r.status >= 500) counts.status5xx!++;
    else if (r.status === 0 && r.appliedAt === undefined) counts.noAnswer!++;
    else if (r.status === 0) counts.appliedWithoutAnswer!++;
  }
  return counts;
}

/** A divergent record's history: its row, sync state and attempts in the database, and the CRM's requests naming it. */
async function story(orm: MikroORM, simulator: HubspotSimulator, email: string): Promise<string> {
  const connection = orm.em.fork().getConnection();
  const [member] = await connection.execute('select id, updated_at, company_id from cv_member where lower(email) = ?', [email]);
  const id = member ? String(member.id) : undefined;
  const state = id ? await connection.execute(`select crm_id, last_outcome, last_synced_at, left(last_digest, 8) as digest from crm_synchronisations where resource_type = 'Member' and resource_id = ?`, [id]) : [];
  const attempts = id ? await connection.execute(`select to_char(at, 'HH24:MI:SS.MS') as at, kind, outcome, left(error, 80) as error from etlify_attempts where entity = 'Member' and resource_id = ? order by at`, [id]) : [];
  const crmIds = new Set(state.map(s => String(s.crm_id)));
  const sent = simulator.requests.filter(isWrite).flatMap(r => {
    const body = r.body as { inputs?: { id?: string; properties?: Record<string, unknown> }[]; properties?: Record<string, unknown> } | undefined;
    const inputs = body?.inputs ?? [{ properties: body?.properties }];
    return inputs.filter(i => String(i.properties?.email ?? '').toLowerCase() === email || crmIds.has(String(i.id)) || r.path.includes(`/${[...crmIds][0]}`))
      .map(i => ({ path: r.path.replace(/.*\/contacts/, ''), status: r.status, received: r.receivedAt, applied: r.appliedAt, company: i.properties?.company, tags: i.properties?.tags }));
  });
  return JSON.stringify({ member, state, attempts, sent });
}

/** Jobs locked by a graphile-worker pool that is not one of the running worker processes (by their registry rows). */
async function jobsLockedByDeadWorkers(orm: MikroORM, alivePids: number[]): Promise<number> {
  const [row] = await orm.em.fork().getConnection().execute(
    `select count(*)::int as n from graphile_worker.jobs
      where locked_by is not null and locked_by not in (select pool_id from etlify_workers where pid = any(string_to_array(?, ',')::int[]))`, [alivePids.join(',')]);
  return row.n;
}

/** What is left in the queue, for the progress lines while the scenario waits for convergence. */
async function queueState(orm: MikroORM): Promise<string> {
  const [row] = await orm.em.fork().getConnection().execute(
    `select (select count(*) from etlify_sync_requests)::int as inbox,
            count(*)::int as records, count(claim_token)::int as claimed, coalesce(max(attempts), 0)::int as max_attempts,
            extract(epoch from max(greatest(due_at, not_before)) filter (where claim_token is null) - now())::int as last_due_in_s,
            (select count(*) from graphile_worker.jobs where locked_at is null)::int as jobs,
            (select count(*) from graphile_worker.jobs where locked_at is not null)::int as locked_jobs,
            extract(epoch from (select min(run_at) from graphile_worker.jobs where locked_at is null) - now())::int as next_job_in_s,
            mode() within group (order by left(last_error, 120)) as usual_error,
            mode() within group (order by kind) as usual_kind
       from etlify_record_queue`);
  return JSON.stringify(row);
}
