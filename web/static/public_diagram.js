// The public procedure page's diagram: the approved internal procedure in the read-only bpmn-js
// viewer (pan and zoom only). The XML address comes from the canvas's data-xml attribute.
(async () => {
  const el = document.getElementById("canvas");
  if (!el) return;
  const viewer = new BpmnJS({ container: el });
  try {
    const xml = await (await fetch(el.dataset.xml)).text();
    await viewer.importXML(xml);
    const canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    const zoomBy = (factor) => canvas.zoom(Math.min(3, Math.max(0.2, canvas.zoom() * factor)));
    document.getElementById("zoom-in").addEventListener("click", () => zoomBy(1.25));
    document.getElementById("zoom-out").addEventListener("click", () => zoomBy(0.8));
    document.getElementById("zoom-fit").addEventListener("click", () => canvas.zoom("fit-viewport"));
    el.dataset.rendered = "true";
  } catch (err) {
    el.textContent = "Không hiển thị được sơ đồ; xem các bước trong bảng trên.";
    el.dataset.rendered = "error";
  }
})();
