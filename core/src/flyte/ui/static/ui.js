// Live updates without a reload: while <main data-live> is set, fetch this page's <main>
// again (?fragment=1) every second and put it in place; stop when the server says the
// run (or action) has ended.
(function () {
  const main = document.querySelector("main[data-live]");
  if (!main) return;
  async function poll() {
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      const response = await fetch(url, { cache: "no-store" });
      if (response.ok) {
        main.innerHTML = await response.text();
        if (response.headers.get("X-Flyte-Live") !== "1") {
          main.removeAttribute("data-live");
          return;
        }
      }
    } catch (error) {
      // the server restarted or the network blinked: try again
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
