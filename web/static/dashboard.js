// The dashboard's two charts, drawn with Chart.js from the JSON data block of the page.
(() => {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const common = { animation: false, responsive: true, maintainAspectRatio: false };
  new Chart(document.getElementById("weeks"), {
    type: "bar",
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    data: {
      labels: data.weeks.labels,
      datasets: [
        { label: "Trực tiếp", data: data.weeks.in_person, backgroundColor: "#0d6efd" },
        { label: "Trực tuyến", data: data.weeks.online, backgroundColor: "#20c997" },
        { label: "Bưu chính", data: data.weeks.postal, backgroundColor: "#fd7e14" },
      ],
    },
  });
  new Chart(document.getElementById("months"), {
    type: "line",
    options: { ...common, scales: { y: { min: 0, max: 100, ticks: { callback: (v) => v + "%" } } } },
    data: {
      labels: data.months.labels,
      datasets: [{
        label: "Đúng hạn (%)",
        borderColor: "#198754",
        data: data.months.rates.map((r) => (r == null ? null : Math.round(r * 1000) / 10)),
      }],
    },
  });
  ["weeks", "months"].forEach((id) => { document.getElementById(id).dataset.rendered = "true"; });
})();
