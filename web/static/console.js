// KMS console: small progressive enhancements only; every page works without this file.
// Copy buttons: <button class="copy" data-copy="ID"> copies the value of element #ID.
document.addEventListener('click', async (event) => {
  const button = event.target.closest('button.copy');
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const status = button.parentElement.querySelector('.copied');
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = 'Copied.';
  } catch {
    field.select();
    if (status) status.textContent = 'Selected: press Ctrl+C to copy.';
  }
});
