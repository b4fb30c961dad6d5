// GraphiQL for development, served by the app itself (no CDN). Paste a bearer token from
// /oauth/token into the Headers pane: {"Authorization": "Bearer …"}. Headers are not persisted.
(function () {
  "use strict";
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: '{\n  "Authorization": "Bearer <access token from /oauth/token>"\n}',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      defaultQuery: "query {\n  me { id name kind }\n}\n",
    })
  );
})();
