// Starts GraphiQL on /graphql with this server's own copies of GraphiQL, React and graphql-ws
// (no CDN). Queries and mutations go over HTTP POST, subscriptions over graphql-transport-ws.
"use strict";

(function () {
  const root = document.getElementById("graphiql");
  const socket = new URL(root.dataset.subscriptions, window.location.href);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = GraphiQL.createFetcher({
    url: root.dataset.endpoint,
    wsClient: graphqlWs.createClient({ url: socket.href, lazy: true }),
  });
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }));
})();
