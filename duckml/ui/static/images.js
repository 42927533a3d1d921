// Image series of the run page (log_image with key= and step=): a slider per series walks its steps.
// The page renders each series at its last step; this only swaps the image and its caption.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const data = duckml.readJSON("image-series-data");
  if (!data) return;
  document.querySelectorAll("figure.image-series").forEach((figure) => {
    const series = data[parseInt(figure.dataset.index, 10)];
    const slider = figure.querySelector("input[type=range]");
    const image = figure.querySelector("img");
    const caption = figure.querySelector("output");
    if (!series || !slider) return;
    const show = () => {
      const point = series.points[parseInt(slider.value, 10)];
      image.src = point.url;
      image.alt = series.key + " at step " + point.step;
      caption.textContent = "step " + point.step + " · " + new Date(point.timestamp).toISOString();
      duckml.setParam("img_" + series.key, slider.value === slider.max ? null : point.step);
    };
    const wanted = duckml.params().get("img_" + series.key);
    if (wanted !== null) {
      const index = series.points.findIndex((p) => String(p.step) === wanted);
      if (index >= 0) { slider.value = index; show(); }
    }
    slider.addEventListener("input", show);
  });
});
