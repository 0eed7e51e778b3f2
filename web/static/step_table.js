// The step table's preview: the diagram drawn from the table, in the bpmn-js viewer. The BPMN text
// comes from the canvas's data-bpmn attribute (no inline script under the Content-Security-Policy).
(async () => {
  const el = document.getElementById("canvas");
  if (!el) return;
  const viewer = new BpmnJS({ container: el });
  try {
    await viewer.importXML(el.dataset.bpmn);
    viewer.get("canvas").zoom("fit-viewport");
    el.dataset.rendered = "true";
  } catch (err) {
    el.textContent = "Không hiển thị được sơ đồ quy trình.";
  }
})();
