// Small behaviours of the officers' pages: select-all for bulk claim, confirm before acting, print,
// filter a list. Pages carry no inline script (the Content-Security-Policy forbids it): they mark
// elements with data- attributes and the behaviour lives here.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll(box.dataset.selectAll).forEach((b) => { b.checked = box.checked; });
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // A print button prints the page (the printed forms and the register).
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
  // A search box narrows the options of a list as the officer types a code or part of a name.
  document.querySelectorAll("input[data-filter-options]").forEach((input) => {
    input.addEventListener("input", () => {
      const q = input.value.toLowerCase();
      document.querySelectorAll(`${input.dataset.filterOptions} option`).forEach((o) => {
        o.hidden = q && !o.textContent.toLowerCase().includes(q);
      });
    });
  });
  // A form is sent once: a double click must not submit twice. Disabled after the submission
  // has been built, so the clicked button's outcome value is still sent.
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", () => {
      setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; }), 0);
    });
  });
});
