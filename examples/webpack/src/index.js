// The smallest SPA on hitkey-bff: who is signed in, sign-in that returns to this very URL
// (path, query and hash), and sign-out.
import { createBff } from "@hitkey-bff/client";

const bff = createBff();
const app = document.getElementById("app");
const here = () => window.location.pathname + window.location.search + window.location.hash;

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  Object.assign(node, attributes);
  if (text !== undefined) node.textContent = text;
  return node;
}

function showSignedOut(reason) {
  const button = element("button", { id: "signin", type: "button" }, "Sign in with HitKey");
  button.addEventListener("click", () => bff.login({ returnTo: here() }));
  app.replaceChildren(
    element("h1", {}, "Signed out"),
    element("p", { id: "signed-out-reason" }, reason),
    element("p", {}, "You will come back to "),
    element("code", { id: "return-to" }, here()),
    button,
  );
}

function showSignedIn(user) {
  const button = element("button", { id: "signout", type: "button" }, "Sign out");
  button.addEventListener("click", () => bff.logout());
  app.replaceChildren(
    element("h1", {}, "Signed in"),
    element("p", { id: "user-name" }, user.name || user.sub),
    element("p", { id: "path" }, here()),
    button,
  );
}

bff.addEventListener("signedout", () => showSignedOut("You are signed out."));

bff.session().then(
  (session) => (session.authenticated ? showSignedIn(session.user) : showSignedOut("")),
  (error) => app.replaceChildren(element("p", { id: "error" }, `The BFF could not be reached: ${error.message}`)),
);
