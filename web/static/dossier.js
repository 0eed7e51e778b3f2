// The dossier page's diagram: its own process version in the bpmn-js viewer, with the steps done
// and the current step marked. The XML address and the step ids come from data- attributes.
(async () => {
  const el = document.getElementById("canvas");
  const viewer = new BpmnJS({ container: el });
  try {
    const xml = await (await fetch(el.dataset.xml, { credentials: "same-origin" })).text();
    await viewer.importXML(xml);
    const canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    JSON.parse(el.dataset.done).forEach((id) => canvas.addMarker(id, "step-done"));
    JSON.parse(el.dataset.current).forEach((id) => canvas.addMarker(id, "step-current"));
    el.dataset.rendered = "true";
  } catch (err) {
    el.textContent = "Không hiển thị được sơ đồ quy trình.";
  }
})();
