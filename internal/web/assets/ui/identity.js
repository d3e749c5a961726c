// Who is using the console. The server asks for an API token (Authorization:
// Bearer); a centred sign-in card takes one and keeps it for the tab, or
// on the device when asked. A server started with --auth=none trusts the
// X-Fledge-User header instead: the console then asks for a name once (in
// the header, or in the first form that changes something) and remembers
// it in localStorage.

import { h, replace, uid, errorBox, fieldError } from './dom.js';
import { session, identity, setIdentity, signIn, signOut, whoami, IDENTITY_PATTERN } from './api.js';

/**
 * mountIdentity renders the header's "signed in as" area and keeps it
 * current; it returns a promise settled once the server said who we are.
 */
export function mountIdentity(root) {
  // editing is the mode a form was opened in: news of the same mode (say,
  // another 401) must not close the form under the user's hands.
  let editing = '';
  const onSession = () => {
    if (editing && editing === session.mode) return;
    show();
  };
  const show = () => {
    editing = '';
    if (session.mode === 'token') {
      replace(root,
        h('span', null, 'Signed in as ', h('strong', { class: 'who' }, session.name),
          session.roles.length ? h('span', { class: 'roles' }, ` (${session.roles.join(', ')})`) : null),
        h('button', {
          type: 'button',
          class: 'link',
          onclick: () => {
            signOut();
            window.dispatchEvent(new CustomEvent('fledge:reload'));
          },
        }, 'Sign out'));
    } else if (session.mode === 'signed-out') {
      replace(root, h('button', {
        type: 'button',
        class: 'link',
        dataset: { signin: '' },
        onclick: () => window.dispatchEvent(new CustomEvent('fledge:signin')),
      }, 'Sign in'));
    } else if (session.mode === 'name') {
      const name = identity();
      replace(root,
        name ? h('span', null, 'Signed in as ', h('strong', { class: 'who' }, name)) : null,
        h('button', { type: 'button', class: 'link', onclick: () => nameForm(name) }, name ? 'Change' : 'Set your name'));
    } else {
      replace(root);
    }
  };
  const nameForm = (current) => {
    const id = uid('who');
    const input = h('input', { id, name: 'name', value: current, required: true, pattern: IDENTITY_PATTERN, autocomplete: 'username', size: 14 });
    const err = h('div');
    const form = h('form', {
      class: 'inline',
      'aria-label': 'Your name',
      onsubmit: (e) => {
        e.preventDefault();
        try {
          setIdentity(input.value);
        } catch (ex) {
          replace(err, errorBox(ex));
          input.focus();
        }
      },
    },
    h('label', { for: id }, 'Your name'), input,
    h('button', { type: 'submit' }, 'Save'),
    h('button', { type: 'button', class: 'link', onclick: show }, 'Cancel'), err);
    replace(root, form);
    editing = session.mode;
    input.focus();
  };
  window.addEventListener('fledge:session', onSession);
  window.addEventListener('storage', (e) => {
    if (e.key === 'fledge.user') show();
  });
  show();
  // The promise tells the page when the session's mode is known, so that
  // forms are drawn for it (no "Your name" field with a token).
  return whoami().catch((e) => replace(root, errorBox(e, 'Could not tell who you are')));
}

/**
 * nameField returns a "Your name" field for a form that changes something,
 * or null when the server knows who the caller is (a token) or the console
 * already has the name. save() stores what was typed (throwing an error
 * the form shows when it is invalid).
 */
export function nameField() {
  if (session.mode === 'token' || session.mode === 'signed-out' || identity()) {
    return { el: null, save: () => identity() };
  }
  const id = uid('name');
  const hint = uid('hint');
  const input = h('input', { id, name: 'user', required: true, pattern: IDENTITY_PATTERN, autocomplete: 'username', 'aria-describedby': hint });
  const el = h('div', { class: 'field' },
    h('label', { for: id }, 'Your name'), input,
    h('p', { class: 'hint', id: hint }, 'Recorded with what you do here; asked once and kept in this browser.'));
  // The name may have been given in the header since the form was drawn.
  return { el, save: () => (input.value.trim() === '' && identity() ? identity() : setIdentity(input.value)) };
}

/**
 * signInCard is the page shown while the console has no accepted token: a
 * centred card that asks for one in plain words.
 */
export function signInCard() {
  const id = uid('tok');
  const rid = uid('rem');
  const hint = uid('hint');
  const err = h('p', { class: 'field-error', id: uid('err'), hidden: true });
  const input = h('input', {
    id, name: 'token', type: 'password', autocomplete: 'current-password', spellcheck: 'false',
    'aria-describedby': `${hint} ${err.id}`,
  });
  const remember = h('input', { id: rid, name: 'remember', type: 'checkbox' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const out = h('div');
  const form = h('form', {
    class: 'signin-form',
    'aria-label': 'Sign in',
    onsubmit: async (e) => {
      e.preventDefault();
      fieldError(input, err, '');
      replace(out);
      if (input.value.trim() === '') {
        fieldError(input, err, 'Paste your API token first.');
        input.focus();
        return;
      }
      button.disabled = true;
      try {
        await signIn(input.value, remember.checked);
        window.dispatchEvent(new CustomEvent('fledge:reload'));
      } catch (ex) {
        button.disabled = false;
        if (ex && (ex.code === 401 || ex.code === 403)) {
          fieldError(input, err, 'That token was not accepted. Check that you copied all of it, or ask an admin for a new one.');
        } else {
          replace(out, errorBox(ex, 'Could not sign in'));
        }
        input.focus();
      }
    },
  },
  h('div', { class: 'field' },
    h('label', { for: id }, 'API token'), input,
    h('p', { class: 'hint', id: hint }, 'An admin creates one with ', h('code', null, 'fledge token create NAME --role approver'), '.'),
    err),
  h('div', { class: 'check' }, remember, h('label', { for: rid }, 'Remember on this device')),
  h('div', { class: 'actions' }, button),
  out);
  const card = h('div', { class: 'signin' },
    h('section', { class: 'signin-card', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to Fledge'),
      h('p', null, 'Fledge needs an API token to show your pipelines and deployments.'),
      form));
  card.focusInput = () => input.focus();
  return card;
}
