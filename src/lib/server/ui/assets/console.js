// The console's only script (served as a file: the pages' Content-Security-Policy allows no
// inline script): times in the viewer's time zone with UTC on hover, "/" to the search field,
// and copy buttons for the target groups. Every page works without it.
/* global document, navigator, HTMLElement */
const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'})
for (const element of document.querySelectorAll('time[datetime]')) {
  const date = new Date(element.getAttribute('datetime'))
  if (Number.isNaN(date.getTime())) continue
  element.title = `${date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} UTC`
  element.textContent = dateTime.format(date)
}

document.addEventListener('keydown', (event) => {
  if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return
  const target = event.target
  if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return
  const search = document.querySelector('[data-search]')
  if (!search) return
  event.preventDefault()
  search.focus()
})

for (const block of document.querySelectorAll('pre.json')) {
  if (!navigator.clipboard) break
  const button = document.createElement('button')
  button.type = 'button'
  button.className = 'copy'
  button.textContent = 'Copy'
  button.setAttribute('aria-label', `Copy: ${block.getAttribute('aria-label') ?? 'JSON'}`)
  button.addEventListener('click', () => {
    navigator.clipboard.writeText(block.textContent ?? '').then(
      () => (button.textContent = 'Copied'),
      () => (button.textContent = 'Copy failed'),
    )
  })
  block.parentElement.prepend(button)
}
