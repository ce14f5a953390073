// webpack + webpack-dev-server on hitkey-bff: the dev server proxies /auth and /api to the BFF,
// so the app, its cookie and every BFF call share this one origin - as behind CloudFront in
// production. The BFF must be `make run` with this origin as APP_ORIGIN: a deployed BFF refuses
// POSTs from any origin but its own AppOrigin (403 origin_not_allowed).
//
//   APP_ORIGIN=http://localhost:8080 make run     # in the hitkey-bff checkout (BFF on :3000)
//   npm run dev                                   # here
//
// BFF_URL: where the BFF listens (default http://localhost:3000).
// APP_ORIGIN: this dev server's origin, the same value `make run` got (default http://localhost:8080).
const path = require("node:path");
const HtmlWebpackPlugin = require("html-webpack-plugin");

const bff = process.env.BFF_URL || "http://localhost:3000";
const origin = new URL(process.env.APP_ORIGIN || "http://localhost:8080");

module.exports = {
  entry: "./src/index.js",
  output: {
    path: path.resolve(__dirname, "dist"),
    filename: "[name].[contenthash].js",
    // Absolute script URLs: sign-in returns to the deep link it started from (/settings/profile),
    // and a relative "main.js" would be fetched from /settings/main.js - a blank page.
    publicPath: "/",
    clean: true,
  },
  plugins: [new HtmlWebpackPlugin({ template: "./src/index.html" })],
  devServer: {
    host: origin.hostname,
    port: Number(origin.port || 8080),
    historyApiFallback: true, // deep links get index.html
    proxy: [{ context: ["/auth", "/api"], target: bff, changeOrigin: true }],
    client: { overlay: false },
  },
};
