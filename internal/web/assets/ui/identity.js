// Who is using the console. Until token login exists the API trusts the
// X-Fledge-User header; the console asks for a name once (in the header,
// or in the first form that changes something) and remembers it.

import { h, replace, uid, errorBox } from './dom.js';
import { identity, setIdentity, IDENTITY_PATTERN } from './api.js';

/** mountIdentity renders the header's "you are" area and keeps it current. */
export function mountIdentity(root) {
  const show = () => {
    const name = identity();
    if (name) {
      replace(root,
        h('span', null, 'Signed in as ', h('strong', { class: 'who' }, name)),
        h('button', { type: 'button', class: 'link', onclick: () => edit(name) }, 'Change'));
    } else {
      replace(root, h('button', { type: 'button', class: 'link', onclick: () => edit('') }, 'Set your name'));
    }
  };
  const edit = (current) => {
    const id = uid('who');
    const input = h('input', { id, name: 'name', value: current, required: true, pattern: IDENTITY_PATTERN, autocomplete: 'username', size: 14 });
    const err = h('div');
    const form = h('form', {
      class: 'inline',
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
    input.focus();
  };
  window.addEventListener('fledge:identity', show);
  window.addEventListener('storage', (e) => {
    if (e.key === 'fledge.user') show();
  });
  show();
}

/**
 * nameField returns a "Your name" field for a form that changes something,
 * or null when the console already knows the name. save() stores what was
 * typed (throwing an ApiError-like error when it is invalid).
 */
export function nameField() {
  if (identity()) return { el: null, save: () => identity() };
  const id = uid('name');
  const hint = uid('hint');
  const input = h('input', { id, name: 'user', required: true, pattern: IDENTITY_PATTERN, autocomplete: 'username', 'aria-describedby': hint });
  const el = h('div', { class: 'field' },
    h('label', { for: id }, 'Your name'), input,
    h('p', { class: 'hint', id: hint }, 'Recorded with what you do here; asked once and kept in this browser.'));
  // The name may have been given in the header since the form was drawn.
  return { el, save: () => (input.value.trim() === '' && identity() ? identity() : setIdentity(input.value)) };
}
