// The New client form's check digits, said as they are typed: a SIRET's Luhn sum and a Belgian
// enterprise number's mod 97, in the aria-live line under each field. Only a help: the server
// checks the same numbers when the form is sent, and the form works the same without it.
(function () {
  "use strict";
  function digits(text) { return text.replace(/[\s.\-\/]/g, ""); }
  function siretOk(number) {
    if (!/^[0-9]{14}$/.test(number)) { return null; }  // not complete yet: nothing to say
    var sum = 0;
    for (var i = 0; i < 14; i++) {
      var d = Number(number.charAt(13 - i));
      if (i % 2 === 1) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d;
    }
    if (sum % 10 === 0) { return true; }
    // La Poste's establishments share one SIREN and are numbered without the Luhn sum.
    if (number.slice(0, 9) === "356000000") {
      var plain = 0;
      for (var j = 0; j < 14; j++) { plain += Number(number.charAt(j)); }
      return plain % 5 === 0;
    }
    return false;
  }
  function enterpriseOk(text) {
    var number = digits(text).replace(/^BE/i, "");
    if (/^[0-9]{9}$/.test(number)) { number = "0" + number; }
    if (!/^[0-9]{10}$/.test(number)) { return null; }
    return 97 - (Number(number.slice(0, 8)) % 97) === Number(number.slice(8));
  }
  var checks = { siret: function (t) { return siretOk(digits(t)); }, enterprise_number: enterpriseOk };
  Array.prototype.forEach.call(document.querySelectorAll("input[data-check]"), function (input) {
    var check = checks[input.dataset.check];
    var line = document.getElementById(input.id + "-check");
    if (!check || !line) { return; }
    function say() {
      var ok = check(input.value);
      var message = ok === false ? line.dataset.message : "";
      if (line.textContent !== message) { line.textContent = message; }
      line.classList.toggle("error-message", ok === false);
    }
    input.addEventListener("input", say);
  });
})();
