// The web page (web/index.html) in a real browser: starts `lipsync serve` on the demo model (any
// free ports) and headless Chromium (Debian's package, driven by puppeteer-core), runs the cases
// below, and stops both, whatever happens.
// Usage: node page_test.cjs --lipsync BIN --models DIR --demo DIR --modules DIR [--chromium BIN]
//                           [--only NAME]
// The server's log goes to the temporary folder and is printed when a case fails.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
for (const need of ["lipsync", "models", "demo", "modules"]) {
  if (!args[need]) { console.error(`page_test: --${need} is required`); process.exit(2); }
  args[need] = path.resolve(args[need]);
}
const chromiumPath = args.chromium || "/usr/bin/chromium";
if (!fs.existsSync(path.join(args.modules, "node_modules", "puppeteer-core"))) {
  console.error(`FAIL: puppeteer-core missing in ${args.modules}: run scripts/setup.sh`);
  process.exit(1);
}
if (!fs.existsSync(chromiumPath)) {
  console.error(`FAIL: ${chromiumPath} missing: run scripts/setup.sh (Debian's chromium)`);
  process.exit(1);
}
const puppeteer = require(path.join(args.modules, "node_modules", "puppeteer-core"));

// Generous: the machine running the suite may be busy with other builds.
const STEP_MS = 60_000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lipsync-browser-"));
const serverLog = path.join(tmp, "server.log");
let server = null, browser = null;

// 16 kHz mono 16-bit PCM: a tone whose loudness moves, so that the mouth moves.
function writeWav(name, seconds) {
  const rate = 16000, n = Math.round(seconds * rate);
  const data = Buffer.alloc(44 + 2 * n);
  data.write("RIFF", 0); data.writeUInt32LE(36 + 2 * n, 4); data.write("WAVEfmt ", 8);
  data.writeUInt32LE(16, 16); data.writeUInt16LE(1, 20); data.writeUInt16LE(1, 22);
  data.writeUInt32LE(rate, 24); data.writeUInt32LE(2 * rate, 28); data.writeUInt16LE(2, 32);
  data.writeUInt16LE(16, 34); data.write("data", 36); data.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; ++i) {
    const t = i / rate, loud = 0.5 + 0.5 * Math.sin(2 * Math.PI * 2 * t);
    data.writeInt16LE(Math.round(12000 * loud * Math.sin(2 * Math.PI * 220 * t)), 44 + 2 * i);
  }
  const file = path.join(tmp, name);
  fs.writeFileSync(file, data);
  return file;
}

async function startServer() {
  const config = path.join(tmp, "server.yaml");
  fs.writeFileSync(config, `server:
  port: ":0"
  http_port: 0
onnx:
  execution_provider: cpu
  intra_op_threads: 1
  audio_encoder_path: ${path.join(args.models, "demo_encoder.onnx")}
output:
  format: jpeg
  jpeg_quality: 75
models_root: ${tmp}
models:
  demo:
    model_path: ${path.join(args.models, "demo_unet.onnx")}
    source_video: ${path.join(args.demo, "avatar.mp4")}
    crop_rects_path: ${path.join(args.demo, "crop_rects.json")}
    preload_model: true
`);
  const log = fs.openSync(serverLog, "w");
  // setpriv --pdeathsig: the server dies with this script even if the script is killed.
  server = spawn("setpriv", ["--pdeathsig", "KILL", "--", args.lipsync, "serve", "--config", config,
                             "--port", "0", "--http-port", "0"], { stdio: ["ignore", log, log] });
  const exited = new Promise((resolve) => server.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  let port = 0;
  for (;;) {
    const text = fs.readFileSync(serverLog, "utf8");
    const match = /HTTP port (\d+)\)/.exec(text);
    if (match) port = Number(match[1]);
    if (port) {
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false);
      if (ready) return port;
    }
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 200))]);
    if (code !== undefined) throw new Error(`the server exited (${code}) before it was ready`);
    if (Date.now() > deadline) throw new Error("the server was not ready within 120 s");
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  const timer = setTimeout(() => server.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

// --- page helpers
const problems = [];  // console errors, page errors, failed requests, HTTP errors: none expected

let currentPage = null;  // its state is printed when a case fails

async function openPage(port, query = "", setup = null) {
  const page = await browser.newPage();
  currentPage = page;
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The audio element's load of a blob: URL is cancelled when the next render replaces it.
    if (r.url().startsWith("blob:") && r.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  // Records what the page shows: every status text and every data-* value, with a time.
  await page.evaluateOnNewDocument(() => {
    window.seen = [];
    const record = () => {
      const status = document.getElementById("status");
      const d = document.body.dataset;
      window.seen.push({ t: performance.now(), text: status ? status.textContent : "",
                         phase: d.phase, received: Number(d.received), total: Number(d.total),
                         drawn: Number(d.drawn), kept: Number(d.kept), settled: d.settled });
    };
    document.addEventListener("DOMContentLoaded", () => {
      new MutationObserver(record).observe(document.body,
          { attributes: true, childList: true, subtree: true, characterData: true });
    });
    window.sockets = 0;  // WebSockets the page opened
    for (const name of ["WebSocket", "WebSocketStream"]) {
      const Original = window[name];
      if (!Original) continue;
      window[name] = class extends Original {
        constructor(...a) { super(...a); window.sockets += 1; }
      };
    }
  });
  if (setup) await page.evaluateOnNewDocument(setup);
  await page.goto(`http://127.0.0.1:${port}/${query}`, { waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("model").options.length > 0);
  return page;
}

async function chooseFile(page, file) {
  const input = await page.$("#file");
  await input.uploadFile(file);
  await page.waitForFunction((name) => document.getElementById("audio-name").textContent.includes(name),
                             {}, path.basename(file));
}

// Clicks Render and waits until render() returned (the upload sent or refused).
async function renderAndSettle(page) {
  const before = await page.evaluate(() => Number(document.body.dataset.settled || 0));
  await page.click("#render");
  await page.waitForFunction((n) => Number(document.body.dataset.settled || 0) > n, {}, before);
}

const data = (page, key) => page.evaluate((k) => document.body.dataset[k], key);
const waitPhase = (page, phase, timeout = STEP_MS) =>
  page.waitForFunction((p) => document.body.dataset.phase === p, { timeout }, phase);
// Lets the page run `count` animation frames: a window in which nothing may change.
const frames = (page, count) => page.evaluate((n) => new Promise((resolve) => {
  const step = () => (--n > 0 ? requestAnimationFrame(step) : resolve());
  requestAnimationFrame(step);
}), count);

// --- the cases
const cases = {};

cases.loads = async (port) => {
  const page = await openPage(port);
  const models = await page.$$eval("#model option", (o) => o.map((x) => x.value));
  expect(models.includes("demo"), `the model list is ${JSON.stringify(models)}`);
  const hint = await page.$eval("#limits", (e) => e.textContent);
  expect(/at most 32\.0 MiB and 10 minutes/.test(hint), `the limits hint says "${hint}"`);
  const icon = await page.$eval("link[rel=icon]", (e) => e.href);
  expect(icon.startsWith("data:"), "the favicon is not inline");
  await page.close();
};

// The demo speech: every frame arrives and the last one is drawn; "done" only once the audio ended.
cases.renders_a_file = async (port) => {
  const speech = path.join(args.demo, "speech.wav");
  const page = await openPage(port);
  await chooseFile(page, speech);
  await renderAndSettle(page);
  await page.waitForFunction(() => {
    const d = document.body.dataset;
    return Number(d.total) > 0 && d.received === d.total;
  });
  const allIn = await page.evaluate(() => ({ phase: document.body.dataset.phase,
                                             text: document.getElementById("status").textContent,
                                             ended: document.getElementById("audio").ended }));
  expect(!allIn.text.includes("done") && allIn.phase !== "done" && !allIn.ended,
         `"done" while the audio still plays: ${JSON.stringify(allIn)}`);
  await waitPhase(page, "done", 120_000);
  const result = await page.evaluate(() => {
    const audio = document.getElementById("audio");
    const first = window.seen.find((s) => s.received >= 1);
    const done = window.seen.find((s) => s.phase === "done" || s.text.includes("done"));
    const drawn = new Set(window.seen.filter((s) => s.drawn >= 0).map((s) => s.drawn));
    return { total: Number(document.body.dataset.total), drawn: Number(document.body.dataset.drawn),
             distinct: drawn.size, ended: audio.ended, duration: audio.duration,
             playedMs: done.t - first.t, text: document.getElementById("status").textContent };
  });
  console.log(`  ${result.total} frames, ${result.distinct} distinct frames drawn, done after ` +
              `${(result.playedMs / 1000).toFixed(1)} s of playback (audio ${result.duration.toFixed(1)} s)`);
  expect(result.drawn === result.total - 1, `the last frame drawn is #${result.drawn} of ${result.total}`);
  expect(result.ended, "done before the audio ended");
  expect(result.playedMs >= ((result.total - 1) / 25) * 1000 - 500,
         `done after ${result.playedMs} ms of a ${result.total}-frame clip`);
  // Not every frame: a busy machine draws fewer (the page skips to the frame due), but the video
  // moves (a frozen one draws the first and the last).
  expect(result.distinct >= result.total / 10, `only ${result.distinct} of ${result.total} frames drawn`);
  expect(/done/.test(result.text) && /frames (\d+)\/\1/.test(result.text), `status: ${result.text}`);
  await page.close();
};

// createImageBitmap slowed to 150 ms a frame (4 frame periods): the video must keep moving.
cases.slow_decoding_still_draws = async (port) => {
  const page = await openPage(port, "", () => {
    const original = window.createImageBitmap.bind(window);
    window.createImageBitmap = (...a) =>
      new Promise((resolve) => setTimeout(resolve, 150)).then(() => original(...a));
  });
  await chooseFile(page, writeWav("three-seconds.wav", 3));
  await renderAndSettle(page);
  await waitPhase(page, "done", 120_000);
  const draws = Number(await data(page, "draws"));
  const drawn = Number(await data(page, "drawn"));
  const total = Number(await data(page, "total"));
  console.log(`  ${draws} frames drawn of ${total} with a 150 ms decoder`);
  expect(drawn === total - 1, `the last frame drawn is #${drawn} of ${total}`);
  expect(draws >= 6, `the video froze: ${draws} frames drawn during ${total / 25} s`);
  await page.close();
};

async function expectErrorStays(page, pattern) {
  await renderAndSettle(page);
  await waitPhase(page, "error");
  await page.waitForFunction(() => !document.getElementById("render").disabled);
  await frames(page, 5);
  const status = await page.$eval("#status", (e) => ({ text: e.textContent, cls: e.className }));
  expect(pattern.test(status.text) && status.cls === "error",
         `the error is not shown: "${status.text}" (class "${status.cls}")`);
  expect((await data(page, "phase")) === "error", "the error was replaced");
}

cases.early_errors_stay_visible = async (port) => {
  const page = await openPage(port);
  await chooseFile(page, writeWav("one-second.wav", 1));
  await page.$eval("#start", (e) => { e.value = "-5"; });
  await expectErrorStays(page, /start.frame/i);
  await page.$eval("#start", (e) => { e.value = "0"; });
  await page.$eval("#model", (select) => {
    select.add(new Option("nosuch", "nosuch"));
    select.value = "nosuch";
  });
  await expectErrorStays(page, /nosuch/);
  await page.close();
};

cases.too_large_is_refused_before_upload = async (port) => {
  const page = await openPage(port);
  const big = path.join(tmp, "big.wav");
  fs.writeFileSync(big, Buffer.alloc(33 * 1048576 + 1));
  await chooseFile(page, big);
  await renderAndSettle(page);
  const text = await page.$eval("#status", (e) => e.textContent);
  expect((await data(page, "phase")) === "error" && /at most 32\.0 MiB/.test(text),
         `a 33 MiB file: "${text}"`);
  expect((await page.evaluate(() => window.sockets)) === 0, "a WebSocket was opened");
  await page.close();
};

// A second render's status line starts from zero: nothing of the first clip shows.
cases.second_render_starts_clean = async (port) => {
  const page = await openPage(port);
  await chooseFile(page, writeWav("four-seconds.wav", 4));
  await renderAndSettle(page);
  await waitPhase(page, "done", 120_000);
  const first = Number(await data(page, "total"));
  await chooseFile(page, writeWav("two-seconds.wav", 2));
  await page.evaluate(() => { window.seen = []; });
  await renderAndSettle(page);
  await waitPhase(page, "done", 120_000);
  const second = Number(await data(page, "total"));
  expect(second < first, `the second clip (${second} frames) is not shorter than the first (${first})`);
  const stale = await page.evaluate((firstTotal, secondTotal) => window.seen.filter((s) =>
      s.text.includes(`/${firstTotal}`) || s.drawn >= secondTotal || s.received > secondTotal ||
      /shown #(\d+)/.test(s.text) && Number(/shown #(\d+)/.exec(s.text)[1]) >= secondTotal),
    first, second);
  expect(stale.length === 0, `the second render showed the first's numbers: ${JSON.stringify(stale[0])}`);
  await page.close();
};

// Once every frame is in: Pause holds the picture, Resume moves on, Stop ends, Replay restarts.
cases.pause_stop_replay_after_all_frames = async (port) => {
  const page = await openPage(port);
  await chooseFile(page, writeWav("six-seconds.wav", 6));
  await renderAndSettle(page);
  await page.waitForFunction(() => {
    const d = document.body.dataset;
    return Number(d.total) > 0 && d.received === d.total && d.phase === "playing" && Number(d.drawn) >= 0;
  });
  const total = Number(await data(page, "total"));
  expect(!(await page.$eval("#pause", (b) => b.disabled)), "Pause is disabled while playing");
  expect(!(await page.$eval("#stop", (b) => b.disabled)), "Stop is disabled while playing");
  await page.click("#pause");
  await waitPhase(page, "paused");
  // A tick already running when Pause was pressed may still move the picture once (seen on a
  // loaded 2-core machine); from the next animation frames on it must stay.
  await frames(page, 5);
  // The frame the clock wants stays; the one drawn catches up with it (a decode may be running).
  const held = Number(await data(page, "shown"));
  await page.waitForFunction((n) => Number(document.body.dataset.drawn) === n, {}, held);
  await frames(page, 20);
  expect(Number(await data(page, "shown")) === held && Number(await data(page, "drawn")) === held,
         "the picture moved while paused");
  expect(await page.$eval("#audio", (a) => a.paused), "the audio plays while paused");
  expect((await page.$eval("#pause", (b) => b.textContent)) === "Resume", "no Resume");
  await page.click("#pause");
  await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, {}, held);
  await page.click("#stop");
  await waitPhase(page, "stopped");
  const stoppedAt = Number(await data(page, "drawn"));
  await frames(page, 20);
  expect(Number(await data(page, "drawn")) === stoppedAt, "the picture moved after Stop");
  expect(stoppedAt < total - 1, `Stop came after the end (#${stoppedAt} of ${total})`);
  await page.waitForFunction(() => !document.getElementById("replay").disabled);
  await page.evaluate(() => { window.seen = []; });
  await page.click("#replay");
  await waitPhase(page, "done", 120_000);
  const replayed = await page.evaluate(() => window.seen.map((s) => s.drawn).filter((d) => d >= 0));
  expect(replayed[0] < 10 && replayed[replayed.length - 1] === total - 1,
         `Replay drew #${replayed[0]} to #${replayed[replayed.length - 1]} of ${total}`);
  await page.close();
};

// ?keep=30: never more than 30 frames in the tab, yet every frame arrives and the last is drawn
// (the server, faster than real time, waits while the page does not read).
cases.frames_kept_are_bounded = async (port) => {
  const page = await openPage(port, "?keep=30");
  await chooseFile(page, writeWav("eight-seconds.wav", 8));
  await renderAndSettle(page);
  await waitPhase(page, "done", 120_000);
  const result = await page.evaluate(() => ({
    maxKept: Math.max(...window.seen.map((s) => s.kept || 0)),
    total: Number(document.body.dataset.total), drawn: Number(document.body.dataset.drawn),
    replay: document.getElementById("replay").disabled }));
  console.log(`  at most ${result.maxKept} frames kept of ${result.total}`);
  expect(result.maxKept <= 30, `${result.maxKept} frames kept with keep=30`);
  expect(result.drawn === result.total - 1, `the last frame drawn is #${result.drawn}`);
  expect(result.replay, "Replay is offered though the first frames were dropped");
  await page.close();
};

// /ws/live: idle frames at once, the fake microphone (Chromium's beeps) makes it speak, a file
// said through the session stops at Interrupt well before its end.
cases.live_microphone_and_interrupt = async (port) => {
  const page = await openPage(port);
  await page.select("#transport", "jpeg");  // this case: the JPEG WebSocket path
  const live = (key) => page.evaluate((k) => Number(document.body.dataset[k]), key);
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.live === "on" &&
                             Number(document.body.dataset.liveFrames) >= 10 &&
                             Number(document.body.dataset.liveDrawn) >= 0);
  expect((await live("liveUtterance")) === 0, "not idle before any speech");
  await page.click("#talk");
  await page.waitForFunction(() => Number(document.body.dataset.liveSent) >= 16000);
  await page.waitForFunction(() => Number(document.body.dataset.liveUtterance) > 0);
  console.log(`  the microphone's speech shown after ${((await live("liveSent")) / 16000).toFixed(1)} s sent`);
  await page.click("#talk");  // stops the microphone and ends its utterance
  await page.waitForFunction(() => document.body.dataset.liveUtterance === "0");
  await chooseFile(page, writeWav("ten-seconds.wav", 10));
  await page.waitForFunction(() => !document.getElementById("say-file").disabled);
  await page.click("#say-file");
  await page.waitForFunction(() => Number(document.body.dataset.liveUtterance) > 0);
  const before = await page.evaluate(() => performance.now());
  await page.click("#interrupt");
  await page.waitForFunction(() => document.body.dataset.liveUtterance === "0");
  const ms = (await page.evaluate(() => performance.now())) - before;
  console.log(`  idle ${ms.toFixed(0)} ms after Interrupt (click to the first idle frame shown)`);
  expect(ms < 3000, `still speaking ${ms} ms after Interrupt (the file is 10 s)`);
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.live === "off");
  await page.close();
};

// WebRTC, the page's default: the first frames come as JPEG (the poster), then H.264 video and
// Opus audio over loopback ICE; speech and Interrupt as the server's frame notices show them;
// a second tab joins the same session with a WebRTC stream of its own.
cases.live_webrtc_and_second_tab = async (port) => {
  const page = await openPage(port);
  const num = (p, key) => p.evaluate((k) => Number(document.body.dataset[k]), key);
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.transport === "webrtc" &&
                             Number(document.body.dataset.rtcFrames) >= 25 &&
                             Number(document.body.dataset.rtcAudio) > 0);
  expect((await num(page, "liveFrames")) >= 1, "no JPEG frame (poster) before WebRTC");
  expect(await page.evaluate(() => document.getElementById("screen").hidden &&
                                   !document.getElementById("rtc").hidden),
         "the video element does not show the WebRTC stream");
  console.log(`  first frame ${(await num(page, "latFirst")).toFixed(0)} ms, first WebRTC frame ` +
              `${(await num(page, "latRtc")).toFixed(0)} ms after Go live`);
  const session = await data(page, "liveSession");
  await chooseFile(page, writeWav("ten-seconds-rtc.wav", 10));
  await page.waitForFunction(() => !document.getElementById("say-file").disabled);
  await page.click("#say-file");
  await page.waitForFunction(() => Number(document.body.dataset.liveUtterance) > 0);
  const speaking = await num(page, "rtcFrames");
  await page.click("#interrupt");
  await page.waitForFunction(() => document.body.dataset.liveUtterance === "0" &&
                             Number(document.body.dataset.latInterrupt) >= 0);
  const ms = await num(page, "latInterrupt");
  console.log(`  speech to mouth ${(await num(page, "latSpeech")).toFixed(0)} ms, interrupt to ` +
              `idle ${ms.toFixed(0)} ms (WebRTC)`);
  expect(ms < 3000, `still speaking ${ms} ms after Interrupt (the file is 10 s)`);
  await page.waitForFunction((n) => Number(document.body.dataset.rtcFrames) > n + 10, {}, speaking);

  const second = await openPage(port, `?join=${session}`);
  await second.click("#live");
  await second.waitForFunction(() => document.body.dataset.transport === "webrtc" &&
                               Number(document.body.dataset.rtcFrames) >= 10);
  expect((await data(second, "liveSession")) === session, "the second tab is on another session");
  await second.click("#live");
  await second.waitForFunction(() => document.body.dataset.live === "off");
  await second.close();
  currentPage = page;
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.live === "off");
  await page.close();
};

// A browser without WebRTC: the page says so and shows the JPEG frames.
cases.live_falls_back_to_jpeg = async (port) => {
  const page = await openPage(port, "", () => { delete window.RTCPeerConnection; });
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.transport === "jpeg" &&
                             Number(document.body.dataset.liveFrames) >= 5 &&
                             Number(document.body.dataset.liveDrawn) >= 0);
  const line = await page.evaluate(() => document.getElementById("transport-line").textContent);
  expect(line.includes("no WebRTC"), `the fallback line says: ${line}`);
  await page.click("#live");
  await page.waitForFunction(() => document.body.dataset.live === "off");
  await page.close();
};

async function main() {
  const port = await startServer();
  browser = await puppeteer.launch({
    executablePath: chromiumPath, headless: true, pipe: true, timeout: STEP_MS,
    protocolTimeout: 180_000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
           "--autoplay-policy=no-user-gesture-required",
           "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
           // host candidates as addresses, not mDNS names the server cannot resolve
           "--disable-features=WebRtcHideLocalIpsWithMdns"],
  });
  let failed = 0;
  for (const [name, run] of Object.entries(cases)) {
    if (args.only && args.only !== name) continue;
    const started = Date.now();
    const before = problems.length;
    try {
      await run(port);
      expect(problems.length === before, problems.slice(before).join("; "));
      console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e.message}`);
      if (currentPage && !currentPage.isClosed()) {
        const state = await currentPage.evaluate(() => ({
          data: { ...document.body.dataset }, status: document.getElementById("status").textContent,
        })).catch((err) => err.message);
        console.log(`  the page: ${JSON.stringify(state)}`);
        await currentPage.close().catch(() => {});
      }
    }
  }
  return failed;
}

let failures = 1;
main().then((n) => { failures = n; }, (e) => console.log(`FAIL: ${e.stack || e}`)).finally(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  if (failures) {
    console.log("--- server log");
    console.log(fs.readFileSync(serverLog, "utf8").split("\n").slice(-40).join("\n"));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(failures ? `${failures} case(s) failed` : "browser page OK");
  process.exit(failures ? 1 : 0);
});
