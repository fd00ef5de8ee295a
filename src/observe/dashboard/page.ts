import { createHash } from 'node:crypto';

/**
 * The page itself: static markup with no data in it. Everything shown comes from the JSON API and is
 * put in place with `textContent` by the page's script (client.ts), so no string from a CRM or a
 * record is ever parsed as HTML. Assets are relative: the page works under any mount path. The
 * first data is asked for by a one-line inline script, while the assets load; the page's script runs
 * as soon as it arrives (async) and draws once the document is parsed.
 */

/**
 * The one inline script: it asks for the first data while the page is still being parsed, before any
 * asset has arrived. Allowed by its hash in the Content-Security-Policy (`PAGE_SCRIPT_HASH`), so no
 * other inline script can run.
 */
export const FIRST_DATA_SCRIPT = "window.etlifyFirstData=fetch('api/overview?range=hour',{cache:'no-store',headers:{accept:'application/json'}});";

/** The CSP source that allows `FIRST_DATA_SCRIPT`, and nothing else inline. */
export const PAGE_SCRIPT_HASH = `'sha256-${createHash('sha256').update(FIRST_DATA_SCRIPT).digest('base64')}'`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Etlify</title>
<script>${FIRST_DATA_SCRIPT}</script>
<script src="assets/dashboard.js" async></script>
<script src="assets/uPlot.iife.min.js" defer></script>
<link rel="stylesheet" href="assets/uPlot.min.css">
<link rel="stylesheet" href="assets/dashboard.css">
</head>
<body>
<header>
  <h1>Etlify</h1>
  <span id="updated" class="muted">loading…</span>
  <nav id="ranges" aria-label="chart range">
    <button type="button" data-range="hour" class="active">last hour</button>
    <button type="button" data-range="day">last day</button>
    <button type="button" data-range="14d">14 days</button>
  </nav>
  <form id="search" role="search">
    <input id="search-term" name="q" placeholder="record id or CRM id" aria-label="record id or CRM id">
    <button type="submit">search</button>
  </form>
  <form id="token-form" hidden>
    <input id="token" type="password" autocomplete="off" placeholder="token to enable actions" aria-label="dashboard token">
  </form>
</header>
<p id="problem" class="problem" hidden></p>
<section id="results" hidden></section>
<main id="crms"></main>
<template id="crm-template">
  <section class="crm">
    <h2><span class="crm-name"></span> <span class="badge"></span></h2>
    <div class="crm-actions"></div>
    <div class="tiles"></div>
    <div class="charts">
      <figure><figcaption>records per step</figcaption><div class="chart chart-outcomes"></div></figure>
      <figure><figcaption>queue depth</figcaption><div class="chart chart-queue"></div></figure>
    </div>
    <h3>rate limit</h3><div class="rate-limit"></div>
    <h3>by entity</h3><table class="entities"></table>
    <h3>latest errors by reason</h3><table class="errors"></table>
    <h3>parked records</h3><div class="parked-actions"></div><table class="parked"></table>
  </section>
</template>
</body>
</html>
`;

export const PAGE_CSS = `
[hidden] { display: none !important; }
:root { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 10px 20px; background: #1d2330; color: #fff; }
header h1 { font-size: 18px; margin: 0 12px 0 0; }
header .muted { color: #aab; }
header form { display: flex; gap: 4px; }
nav button, header button { background: #2f3850; color: #fff; border: 1px solid #46506b; border-radius: 4px; padding: 4px 10px; cursor: pointer; }
nav button.active { background: #4a7bd0; border-color: #4a7bd0; }
input { padding: 4px 8px; border-radius: 4px; border: 1px solid #46506b; }
main, #results { padding: 0 20px 20px; }
.crm, #results { background: #fff; border-radius: 8px; margin: 16px 0; padding: 12px 16px; box-shadow: 0 1px 3px #0002; }
#results { margin: 16px 20px; }
h2 { margin: 4px 0 8px; font-size: 17px; }
h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #667; margin: 14px 0 6px; }
.badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e3f4e6; color: #1e6b2f; vertical-align: middle; }
.badge.paused, .badge.disabled { background: #fdecc8; color: #7a5200; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 8px; }
.tile { background: #f5f6f8; border-radius: 6px; padding: 8px 10px; }
.tile .label { color: #667; font-size: 12px; }
.tile .value { font-size: 22px; font-weight: 600; }
.tile.bad .value { color: #b3261e; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
figure { margin: 8px 0 0; }
figcaption { color: #667; font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6e8ec; vertical-align: top; }
th { color: #667; font-weight: 500; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-word; max-width: 60ch; }
.empty { color: #889; font-style: italic; }
.problem { margin: 12px 20px; padding: 8px 12px; background: #fde7e7; color: #8c1d18; border-radius: 6px; }
.meter { height: 10px; background: #e6e8ec; border-radius: 5px; overflow: hidden; max-width: 320px; }
.meter > div { height: 100%; background: #4a7bd0; }
.crm-actions, .parked-actions { display: flex; gap: 6px; margin: 4px 0; }
.crm-actions button, .parked-actions button, td button { background: #fff; border: 1px solid #b8bfcc; border-radius: 4px; padding: 2px 8px; cursor: pointer; }
`;
