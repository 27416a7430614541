// Entry point: sign-in, sign-out and the hash routes #/ (session list) and #/sessions/<id> (one session).
import { apiKey, call, onUnauthorized, ApiError } from './api.js';
import { ListView } from './list.js';
import { SessionView } from './session.js';
import { confirmAction } from './confirm.js';

const $ = (id) => document.getElementById(id);

const views = {
  signIn: $('sign-in'),
  list: $('list'),
  session: $('session'),
};

const listView = new ListView(confirmAction);
const sessionView = new SessionView();

function show(name) {
  $('loading').hidden = true;
  for (const [key, element] of Object.entries(views)) {
    element.hidden = key !== name;
  }
  const signedIn = name !== 'signIn';
  $('sign-out').hidden = !signedIn;
  $('who').hidden = !signedIn;
}

function stopAll() {
  listView.stop();
  sessionView.stop();
}

function showSignIn(message) {
  stopAll();
  show('signIn');
  const note = $('sign-in-message');
  note.textContent = message ?? '';
  note.hidden = !message;
  $('api-key').value = '';
  $('api-key').focus();
}

function route() {
  if (!apiKey.get()) {
    showSignIn();
    return;
  }

  stopAll();
  const match = /^#\/sessions\/([^/?#]+)$/.exec(location.hash);
  if (match) {
    show('session');
    sessionView.start(decodeURIComponent(match[1]));
  } else {
    show('list');
    listView.start();
  }
  $('main').focus({ preventScroll: true });
}

onUnauthorized((message) => {
  apiKey.clear();
  showSignIn(`Your API key was refused (401${message ? `: ${message}` : ''}). Sign in again.`);
});

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('api-key').value.trim();
  const note = $('sign-in-message');
  note.hidden = true;
  try {
    await call('GET', '/v1/sessions', undefined, { key });
  } catch (error) {
    note.textContent = error instanceof ApiError && error.status === 401
      ? 'That API key was refused. Check it and try again.'
      : `Could not sign in: ${error.message}`;
    note.hidden = false;
    $('api-key').select();
    return;
  }

  apiKey.set(key);
  $('who').textContent = 'Signed in';
  if (!location.hash || location.hash === '#') {
    location.hash = '#/';
  }
  route();
});

$('sign-out').addEventListener('click', () => {
  apiKey.clear();
  showSignIn('Signed out. The key was forgotten.');
});

window.addEventListener('hashchange', route);
$('who').textContent = 'Signed in';
route();
