// The console's one script of its own, served as /console/static/console.{hash}.js (CSP
// script-src 'self': no inline script anywhere). Beside every <time class="t"> written in UTC it
// adds the same instant in the browser's zone; it runs again on what htmx swaps in.
export const CONSOLE_JS = `(function () {
  'use strict';
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  var format = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short'
  });
  function localize(root) {
    var times = root.querySelectorAll('time.t:not([data-local])');
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var at = new Date(el.getAttribute('datetime'));
      if (isNaN(at.getTime())) continue;
      el.setAttribute('data-local', '');
      var local = document.createElement('span');
      local.className = 'local';
      local.textContent = ' (' + format.format(at) + ', ' + zone + ')';
      el.insertAdjacentElement('afterend', local);
    }
    var zones = root.querySelectorAll('[data-zone]');
    for (var j = 0; j < zones.length; j++) zones[j].textContent = zone;
  }
  document.addEventListener('DOMContentLoaded', function () { localize(document); });
  document.addEventListener('htmx:afterSettle', function (e) { localize(e.target); });
})();
`;
