"use strict";
fetch("/openapi.json", { headers: { Authorization: "Bearer " + (localStorage.getItem("faceprint-key") || "") } })
  .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status + ": save an API key on the main page")))
  .then((doc) => {
    const ops = document.getElementById("ops");
    ops.innerHTML = "";
    const intro = document.createElement("p");
    intro.textContent = doc.info.description || "";
    ops.appendChild(intro);
    Object.entries(doc.paths).forEach(([path, methods]) => {
      Object.entries(methods).forEach(([method, op]) => {
        const div = document.createElement("div");
        div.className = "op";
        const head = document.createElement("div");
        head.innerHTML = "<span class=m></span><code></code>";
        head.children[0].textContent = method;
        head.children[1].textContent = path;
        const text = document.createElement("p");
        text.textContent = (op.summary || "") + " " + (op.description || "");
        const codes = document.createElement("small");
        codes.textContent = "responses: " + Object.keys(op.responses || {}).join(", ");
        div.append(head, text, codes);
        ops.appendChild(div);
      });
    });
  })
  .catch((e) => { document.getElementById("ops").textContent = e.message; });
