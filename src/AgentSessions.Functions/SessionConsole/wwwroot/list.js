// The session list: live (polled), filterable by status, with create, delete and delete-all.
import { call, sessionPath, statusBadge, timeElement, ApiError } from './api.js';

const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

function goalPreview(goal) {
  if (!goal) {
    return '—';
  }
  return goal.length > 120 ? `${goal.slice(0, 117)}…` : goal;
}

export class ListView {
  constructor(confirmAction) {
    this.confirmAction = confirmAction;
    this.timer = null;
    this.generation = 0;
    this.sessions = [];
    this.goals = new Map(); // session id -> goal (or null), read once from GET /v1/sessions/{id}
    this.rows = new Map(); // session id -> <tr>
    this.modelsLoaded = false;

    $('status-filter').addEventListener('change', () => this.render());
    $('create-form').addEventListener('submit', (event) => this.create(event));
    $('delete-all').addEventListener('click', () => this.deleteAll());
  }

  start() {
    const generation = ++this.generation;
    this.showMessage(null);
    this.loadModels();
    const tick = async () => {
      await this.refresh();
      if (generation === this.generation) {
        this.timer = setTimeout(tick, REFRESH_MS);
      }
    };
    tick();
  }

  stop() {
    this.generation++;
    clearTimeout(this.timer);
    this.timer = null;
  }

  showMessage(text) {
    const note = $('list-message');
    note.textContent = text ?? '';
    note.hidden = !text;
  }

  async loadModels() {
    if (this.modelsLoaded) {
      return;
    }
    try {
      const { body } = await call('GET', '/v1/models');
      const select = $('create-agent');
      select.replaceChildren();
      for (const model of body.models ?? []) {
        const option = document.createElement('option');
        option.value = model.id;
        option.textContent = model.description ? `${model.id} — ${model.description}` : model.id;
        select.append(option);
      }
      this.modelsLoaded = true;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        this.showMessage(`Could not list agents: ${error.message}`);
      }
    }
  }

  async refresh() {
    const live = $('list-live');
    try {
      const { body } = await call('GET', '/v1/sessions');
      this.sessions = Array.isArray(body) ? body : [];
      live.dataset.state = 'open';
      live.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
      this.render();
      await this.loadGoals();
    } catch (error) {
      live.dataset.state = 'reconnecting';
      live.textContent = 'Not updating: retrying';
      if (!(error instanceof ApiError && error.status === 401)) {
        this.showMessage(`Could not load sessions: ${error.message}`);
      }
    }
  }

  /** The list answer has no goal; each session's own answer does. Read once per session, a few at a time. */
  async loadGoals() {
    const missing = this.sessions.map((s) => s.session_id).filter((id) => !this.goals.has(id)).slice(0, 8);
    await Promise.all(missing.map(async (id) => {
      try {
        const { body } = await call('GET', sessionPath(id));
        this.goals.set(id, body.goal ?? null);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.goals.set(id, null);
        }
        return;
      }
      const row = this.rows.get(id);
      if (row) {
        row.querySelector('td.goal').textContent = goalPreview(this.goals.get(id));
      }
    }));
  }

  /** Updates rows in place (keyed by id), so focus and reading position survive each refresh. */
  render() {
    const filter = $('status-filter').value;
    const visible = this.sessions.filter((s) => !filter || s.status === filter);
    const body = $('sessions-body');
    const keep = new Set(visible.map((s) => s.session_id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }

    let previous = null;
    for (const session of visible) {
      let row = this.rows.get(session.session_id);
      if (!row) {
        row = this.createRow(session);
        this.rows.set(session.session_id, row);
      }
      this.updateRow(row, session);
      const expectedPosition = previous ? previous.nextSibling : body.firstChild;
      if (row !== expectedPosition) {
        body.insertBefore(row, expectedPosition);
      }
      previous = row;
    }

    const empty = $('sessions-empty');
    empty.hidden = visible.length > 0;
    empty.textContent = this.sessions.length === 0 ? 'No sessions yet: create one above.' : `No session is ${filter}.`;
    $('delete-all').disabled = this.sessions.length === 0;
  }

  createRow(session) {
    const row = document.createElement('tr');
    row.dataset.sessionId = session.session_id;

    const status = document.createElement('td');
    status.append(document.createElement('span'));
    const agent = document.createElement('td');
    agent.className = 'agent';
    const created = document.createElement('td');
    created.append(timeElement(session.created_at));
    const goal = document.createElement('td');
    goal.className = 'goal';
    goal.textContent = this.goals.has(session.session_id) ? goalPreview(this.goals.get(session.session_id)) : '…';

    const actions = document.createElement('td');
    actions.className = 'actions';
    const open = document.createElement('a');
    open.href = `#/sessions/${encodeURIComponent(session.session_id)}`;
    open.textContent = 'Open';
    open.setAttribute('aria-label', `Open session ${session.session_id}`);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'danger';
    remove.textContent = 'Delete';
    remove.setAttribute('aria-label', `Delete session ${session.session_id}`);
    remove.addEventListener('click', () => this.deleteOne(session.session_id));
    actions.append(open, remove);

    row.append(status, agent, created, goal, actions);
    return row;
  }

  updateRow(row, session) {
    statusBadge(row.cells[0].firstChild, session.status);
    row.dataset.status = session.status;
    row.cells[1].textContent = session.agent_name;
  }

  async create(event) {
    event.preventDefault();
    const note = $('create-message');
    note.hidden = true;
    const body = {
      agent_name: $('create-agent').value || undefined,
      max_steps: Number($('create-max-steps').value),
    };
    const goal = $('create-goal').value.trim();
    if (goal) {
      body.goal = goal;
    }
    try {
      const { body: session } = await call('POST', '/v1/sessions', body);
      this.goals.set(session.session_id, session.goal ?? null);
      $('create-goal').value = '';
      location.hash = `#/sessions/${encodeURIComponent(session.session_id)}`;
    } catch (error) {
      note.textContent = `Could not create the session: ${error.message}`;
      note.hidden = false;
    }
  }

  async deleteOne(id) {
    if (!(await this.confirmAction(`Delete session ${id}? Its work stops and its transcript is removed.`))) {
      return;
    }
    try {
      await call('DELETE', sessionPath(id));
      this.showMessage(null);
    } catch (error) {
      this.showMessage(`Could not delete the session: ${error.message}`);
    }
    await this.refresh();
  }

  async deleteAll() {
    const count = this.sessions.length;
    if (!(await this.confirmAction(`Delete all ${count} session${count === 1 ? '' : 's'}? Their work stops and their transcripts are removed.`, 'Delete all'))) {
      return;
    }
    try {
      await call('DELETE', '/v1/sessions');
      this.showMessage(null);
    } catch (error) {
      this.showMessage(`Could not delete the sessions: ${error.message}`);
    }
    await this.refresh();
  }
}
