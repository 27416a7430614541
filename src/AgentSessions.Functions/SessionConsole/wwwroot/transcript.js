// Turns stream events into transcript items. Agent content is untrusted: it only ever becomes text (textContent),
// never markup, whatever it contains.
import { timeElement } from './api.js';

const LABELS = {
  thought: 'Thought',
  question: 'Question',
  user: 'You',
  done: 'Done',
  error: 'Error',
  log: 'Log',
};

export const messageEvents = new Set(Object.keys(LABELS));

function meta(kind, timestamp, id) {
  const line = document.createElement('div');
  line.className = 'meta';
  const label = document.createElement('span');
  label.className = 'kind';
  label.textContent = kind;
  line.append(label);
  if (timestamp) {
    line.append(timeElement(timestamp));
  }
  if (id !== undefined && id !== null) {
    const number = document.createElement('span');
    number.textContent = `#${id}`;
    line.append(number);
  }
  return line;
}

/** The readable part of a message: its text, or for JSON content a summary when it has one, plus the JSON itself. */
function body(data) {
  const content = data.content;
  const holder = document.createElement('div');
  holder.className = 'text';
  if (content !== null && typeof content === 'object') {
    if (typeof content.summary === 'string') {
      holder.textContent = content.summary;
    }
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'JSON';
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(content, null, 2);
    details.append(summary, pre);
    if (typeof content.summary !== 'string') {
      details.open = true;
    }
    holder.append(details);
  } else {
    holder.textContent = typeof data.text === 'string' ? data.text : String(content ?? '');
  }
  return holder;
}

export function messageItem(event, data) {
  const item = document.createElement('li');
  item.className = 'msg';
  item.dataset.type = event;
  item.dataset.id = String(data.message_id ?? '');
  item.append(meta(LABELS[event] ?? event, data.timestamp, data.message_id), body(data));
  if (data.metadata?.reason) {
    const reason = document.createElement('div');
    reason.className = 'hint';
    reason.textContent = `reason: ${data.metadata.reason}`;
    item.append(reason);
  }
  return item;
}

export function stepItem(data) {
  const item = document.createElement('li');
  item.className = 'step';
  item.dataset.stepId = String(data.message_id ?? '');
  item.textContent = `Task ${data.task ?? '?'} · step ${data.step ?? '?'}`;
  return item;
}

export function markerItem(event, data) {
  const item = document.createElement('li');
  item.className = 'marker';
  item.dataset.marker = event;
  item.append(meta(event === 'paused' ? 'Paused' : 'Resumed', data.timestamp));
  const text = document.createElement('div');
  text.textContent = event === 'paused' ? 'The session was paused: no new step starts until it resumes.' : `The session resumed (${data.status}).`;
  item.append(text);
  return item;
}

export function badge(kind, text) {
  const element = document.createElement('span');
  element.className = `badge ${kind}`;
  element.textContent = text;
  return element;
}
