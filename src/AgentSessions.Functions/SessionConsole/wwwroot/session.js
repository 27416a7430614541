// One session: its transcript streamed live from GET …/events (fetch-based, because EventSource cannot send an
// Authorization header), commands as the state table allows them, messages, answers, and the agent's browser.
import { fetchEventSource } from './vendor/fetch-event-source/index.js';
import { apiKey, call, sessionPath, allowedCommands, statusBadge, timeElement, signedOut, ApiError } from './api.js';
import { messageEvents, messageItem, stepItem, markerItem, badge } from './transcript.js';

const POLL_MS = 1500;
const RECONNECT_MS = 1000;
const PENDING_GIVE_UP_MS = 15000;
const COMMANDS = {
  pause: { label: 'Pause', doing: 'Pausing…', done: 'Paused' },
  resume: { label: 'Resume', doing: 'Resuming…', done: 'Resumed' },
  cancel: { label: 'Cancel', doing: 'Cancelling…', done: 'Cancelled' },
};

const $ = (id) => document.getElementById(id);

/** Ends the stream for good (no reconnect): signed out, or the session is gone. */
class StopStream extends Error {}

export class SessionView {
  constructor() {
    this.id = null;
    this.generation = 0;
    for (const name of Object.keys(COMMANDS)) {
      $(name).addEventListener('click', () => this.command(name));
    }
    $('message-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = $('message-text').value;
      this.send(text, $('message-note')).then((sent) => {
        if (sent) {
          $('message-text').value = '';
        }
      });
    });
    $('navigate-form').addEventListener('submit', (event) => this.navigate(event));
    $('screenshot').addEventListener('click', () => this.screenshot());
  }

  start(id) {
    this.stop();
    const generation = ++this.generation;
    this.id = id;
    this.status = null;
    this.lastId = 0;
    this.seen = new Set();
    this.held = [];
    this.lastQuestion = null;
    this.busy = false;
    this.pending = null;
    this.gone = false;

    $('session-id').textContent = id;
    $('session-title').textContent = `Session ${id.slice(0, 8)}`;
    $('session-agent').textContent = '…';
    $('session-created').replaceChildren();
    $('session-goal').textContent = '…';
    statusBadge($('session-status'), null);
    $('transcript').replaceChildren();
    $('command-note').textContent = '';
    $('message-note').textContent = '';
    $('browser-note').textContent = '';
    $('browser-tools').hidden = false;
    $('screenshot-image').hidden = true;
    this.setStreamState('closed', 'Connecting…');
    this.updateButtons();

    const tick = async () => {
      await this.refreshStatus();
      if (generation === this.generation && !this.gone) {
        this.ensureStream();
        this.poll = setTimeout(tick, POLL_MS);
      }
    };
    tick();
  }

  stop() {
    this.generation++;
    clearTimeout(this.poll);
    this.stream?.abort();
    this.stream = null;
  }

  get path() {
    return sessionPath(this.id);
  }

  async refreshStatus() {
    const generation = this.generation;
    try {
      const { body } = await call('GET', this.path);
      if (generation !== this.generation) {
        return;
      }
      $('session-agent').textContent = body.agent_name;
      $('session-created').replaceChildren(timeElement(body.created_at));
      $('session-goal').textContent = body.goal ?? '—';
      this.setStatus(body.status);
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      if (error instanceof ApiError && error.status === 404) {
        this.sessionGone();
      } else if (!(error instanceof ApiError && error.status === 401)) {
        $('command-note').textContent = `Could not read the session: ${error.message}`;
      }
    }
  }

  sessionGone() {
    this.gone = true;
    this.stop();
    statusBadge($('session-status'), null);
    $('command-note').textContent = 'This session does not exist (it may have been deleted).';
    this.setStreamState('closed', 'No stream');
    this.busy = true;
    this.updateButtons();
  }

  setStatus(status) {
    const before = this.status;
    this.status = status;
    if (this.pending && (status !== this.pending.from || Date.now() - this.pending.since > PENDING_GIVE_UP_MS)) {
      $('command-note').textContent = status !== this.pending.from
        ? `${COMMANDS[this.pending.name].done}: the session is now ${status}.`
        : `${COMMANDS[this.pending.name].label} is still not applied; the buttons follow the session again.`;
      this.pending = null;
    }
    statusBadge($('session-status'), status, this.pending !== null);
    if (before === 'paused' && status !== 'paused') {
      this.releaseHeld(status);
    }
    $('message-hint').textContent = status === 'paused'
      ? 'The session is paused: a message is recorded now and delivered to the agent when it resumes.'
      : status === 'finished' || status === 'error' || status === 'ready'
        ? 'A message starts a new task.'
        : '';
    this.updateButtons();
    this.updateQuestion();
  }

  updateButtons() {
    const allowed = allowedCommands[this.status] ?? [];
    for (const name of Object.keys(COMMANDS)) {
      $(name).disabled = this.busy || this.pending !== null || !allowed.includes(name);
    }
  }

  releaseHeld(status) {
    const delivered = status === 'running' || status === 'waiting_for_input';
    for (const item of this.held) {
      item.querySelector('.badge.held')?.replaceWith(delivered
        ? badge('delivered', 'delivered on resume')
        : badge('dropped', 'not delivered: the task ended'));
    }
    this.held = [];
  }

  setStreamState(state, text) {
    const element = $('stream-state');
    element.dataset.state = state;
    element.textContent = text;
  }

  /** Opens the stream unless one is open; a session that has ended has nothing more coming until a new task. */
  ensureStream() {
    if (this.stream || this.gone || this.status === null) {
      return;
    }
    if ((this.status === 'finished' || this.status === 'error') && this.streamEndedAt === this.lastId) {
      return; // caught up with an ended task; a message (new task) changes the status and reopens it
    }
    this.openStream();
  }

  openStream() {
    const controller = new AbortController();
    this.stream = controller;
    const generation = this.generation;
    this.setStreamState('reconnecting', 'Connecting…');
    // after_id is where this page is; on its own reconnects the library also sends Last-Event-ID, which the
    // service prefers, so a dropped connection resumes exactly after the last event shown.
    fetchEventSource(`${this.path}/events?after_id=${this.lastId}`, {
      headers: { Authorization: `Bearer ${apiKey.get() ?? ''}`, Accept: 'text/event-stream' },
      signal: controller.signal,
      openWhenHidden: true,
      onopen: async (response) => {
        const type = response.headers.get('content-type') ?? '';
        if (response.ok && type.startsWith('text/event-stream')) {
          this.setStreamState('open', 'Live');
          return;
        }
        if (response.status === 401) {
          signedOut();
          throw new StopStream('unauthorized');
        }
        if (response.status === 404) {
          this.sessionGone();
          throw new StopStream('gone');
        }
        throw new Error(`The event stream answered HTTP ${response.status}`);
      },
      onmessage: (message) => {
        if (generation === this.generation) {
          this.onEvent(message);
        }
      },
      onclose: () => {
        this.streamEndedAt = this.lastId; // the service ended it: caught up with a task that is over
      },
      onerror: (error) => {
        if (error instanceof StopStream || generation !== this.generation) {
          throw error;
        }
        this.setStreamState('reconnecting', 'Reconnecting…');
        return RECONNECT_MS;
      },
    }).catch(() => {}).finally(() => {
      if (this.stream === controller) {
        this.stream = null;
        if (!this.gone) {
          this.setStreamState('closed', 'Stream ended');
        }
      }
    });
  }

  onEvent(message) {
    if (!message.event) {
      return; // a comment or an empty frame
    }
    if (message.event === 'heartbeat') {
      this.setStreamState('open', `Live · heard ${new Date().toLocaleTimeString()}`);
      return;
    }

    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }

    const id = message.id ? Number(message.id) : null;
    if (id !== null) {
      const key = `${message.event}:${id}`;
      if (this.seen.has(key)) {
        return; // never shown twice, even if a reconnect overlapped
      }
      this.seen.add(key);
      this.lastId = Math.max(this.lastId, id);
    }

    const transcript = $('transcript');
    if (message.event === 'step') {
      transcript.append(stepItem(data));
    } else if (message.event === 'paused' || message.event === 'resumed') {
      transcript.append(markerItem(message.event, data));
      if (data.status) {
        this.setStatus(data.status);
      }
    } else if (messageEvents.has(message.event)) {
      const item = messageItem(message.event, data);
      transcript.append(item);
      this.onMessage(message.event, item);
    }
    this.keepScrolled(transcript);
  }

  onMessage(event, item) {
    if (event === 'user') {
      this.lastQuestion = null;
      if (this.status === 'paused') {
        item.querySelector('.meta').append(badge('held', 'held until resume'));
        this.held.push(item);
      }
    } else if (event === 'question') {
      this.lastQuestion = item;
      if (this.status === 'running') {
        this.setStatus('waiting_for_input');
        return;
      }
    } else if (event === 'done' && this.status !== 'paused') {
      this.setStatus('finished');
      return;
    } else if (event === 'error' && this.status !== 'paused') {
      this.setStatus('error');
      return;
    }
    this.updateQuestion();
  }

  /** The latest question gets an answer box while the session waits for input. */
  updateQuestion() {
    const open = document.querySelector('#transcript form.answer');
    const target = this.status === 'waiting_for_input' ? this.lastQuestion : null;
    if (open && open.parentElement !== target) {
      open.remove();
    }
    if (!target || target.querySelector('form.answer')) {
      return;
    }

    const form = document.createElement('form');
    form.className = 'answer';
    const label = document.createElement('label');
    const field = document.createElement('textarea');
    field.id = `answer-${target.dataset.id}`;
    field.rows = 2;
    field.required = true;
    field.maxLength = 10000;
    label.htmlFor = field.id;
    label.textContent = 'Your answer';
    const button = document.createElement('button');
    button.type = 'submit';
    button.textContent = 'Send answer';
    const note = document.createElement('p');
    note.className = 'note';
    note.setAttribute('aria-live', 'polite');
    form.append(label, field, button, note);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      button.disabled = true;
      const sent = await this.send(field.value, note);
      button.disabled = false;
      if (sent) {
        form.remove();
      }
    });
    target.append(form);
  }

  keepScrolled(transcript) {
    const last = transcript.lastElementChild;
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
    if (last && nearBottom) {
      last.scrollIntoView({ block: 'nearest' });
    }
  }

  async command(name) {
    const note = $('command-note');
    const from = this.status;
    this.busy = true;
    this.updateButtons();
    note.textContent = COMMANDS[name].doing;
    try {
      const { status, body } = await call('POST', `${this.path}/${name}`);
      if (status === 202 || body?.pending) {
        this.pending = { name, from, since: Date.now() };
        note.textContent = `${COMMANDS[name].label} accepted but not applied yet (pending); waiting for the session…`;
        this.setStatus(body?.status ?? from);
      } else {
        note.textContent = `${COMMANDS[name].done}: the session is now ${body.status}.`;
        this.setStatus(body.status);
      }
    } catch (error) {
      note.textContent = error instanceof ApiError && error.status === 409
        ? `Not possible now: ${error.message} (${error.code}).`
        : `${COMMANDS[name].label} failed: ${error.message}`;
      await this.refreshStatus();
    } finally {
      this.busy = false;
      this.updateButtons();
    }
  }

  /** Sends a message (or an answer); true when the service took it. */
  async send(text, note) {
    if (!text.trim()) {
      note.textContent = 'Write something first.';
      return false;
    }
    const wasPaused = this.status === 'paused';
    note.textContent = 'Sending…';
    try {
      const { status } = await call('POST', `${this.path}/message`, { message: text });
      note.textContent = status === 202
        ? 'Accepted but not applied yet (pending).'
        : wasPaused ? 'Recorded and held: the agent gets it when the session resumes.' : 'Sent.';
      this.streamEndedAt = undefined; // a new task may start: stream again
      this.refreshStatus();
      return true;
    } catch (error) {
      note.textContent = `Not sent: ${error.message}`;
      return false;
    }
  }

  browserUnsupported(error) {
    $('browser-tools').hidden = true;
    $('screenshot-image').hidden = true;
    $('browser-note').textContent = `This agent has no browser to drive: ${error.message}`;
  }

  async navigate(event) {
    event.preventDefault();
    const note = $('browser-note');
    note.textContent = 'Navigating…';
    try {
      const { body } = await call('POST', `${this.path}/navigate`, { url: $('navigate-url').value });
      note.textContent = `The browser is at ${body.current_url}.`;
    } catch (error) {
      if (error instanceof ApiError && error.status === 501) {
        this.browserUnsupported(error);
      } else {
        note.textContent = `Could not navigate: ${error.message}`;
      }
    }
  }

  async screenshot() {
    const note = $('browser-note');
    note.textContent = 'Taking a screenshot…';
    try {
      const { body } = await call('GET', `${this.path}/screenshot`);
      const data = String(body.screenshot ?? '');
      const type = data.startsWith('/9j/') ? 'image/jpeg' : data.startsWith('R0lG') ? 'image/gif' : data.startsWith('UklG') ? 'image/webp' : 'image/png';
      const image = $('screenshot-image');
      image.src = `data:${type};base64,${data}`;
      image.alt = body.title ? `Screenshot of ${body.title}` : 'Screenshot of the agent\'s browser';
      image.hidden = false;
      note.textContent = body.url ? `Screenshot of ${body.url}` : 'Screenshot taken.';
    } catch (error) {
      if (error instanceof ApiError && error.status === 501) {
        this.browserUnsupported(error);
      } else {
        note.textContent = `Could not take a screenshot: ${error.message}`;
      }
    }
  }
}
