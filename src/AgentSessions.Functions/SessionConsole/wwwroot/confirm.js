// Confirmation in a modal <dialog> (keyboard: focus starts on "Keep", Escape cancels), never window.confirm.

/** Resolves true when the user confirms `text` with the button labelled `action`. */
export function confirmAction(text, action = 'Delete') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = action;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}
