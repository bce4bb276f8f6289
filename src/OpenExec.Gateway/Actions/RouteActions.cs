namespace OpenExec.Gateway.Actions;

/// <summary>
/// The routed actions declared in YARP configuration (SPEC section 5): a route is an action
/// through <c>Metadata["OpenExec.Action"]</c>, or an explicit pass-through. Any other route is
/// refused at start-up: nothing crosses the boundary unchecked.
/// </summary>
internal sealed class RouteActions
{
    public const string ActionKey = "OpenExec.Action";
    public const string ExecutePathKey = "OpenExec.ExecutePath";
    public const string PassThroughKey = "OpenExec.PassThrough";

    /// <summary>The methods a pass-through route forwards, written so (methods are case-sensitive).</summary>
    public static readonly string[] PassThroughMethods = ["GET", "HEAD", "OPTIONS"];

    private RouteActions(IReadOnlyList<ActionDefinition> actions, IReadOnlyList<string> passThroughRoutes)
    {
        Actions = actions;
        PassThroughRoutes = passThroughRoutes;
    }

    public IReadOnlyList<ActionDefinition> Actions { get; }

    public IReadOnlyList<string> PassThroughRoutes { get; }

    /// <summary>A route whose action /execute runs cannot take transforms: /execute calls the cluster directly.</summary>
    public static string ExecutePathWithTransformsProblem(string routeId)
        => $"ReverseProxy:Routes:{routeId}: {ExecutePathKey} cannot be combined with Transforms (/execute calls the cluster directly and would skip them); call the action through its route instead";

    /// <summary>Reads the routes; adds one line to <paramref name="problems"/> per bad route.</summary>
    public static RouteActions Read(IConfigurationSection reverseProxy, List<string> problems)
    {
        foreach (var child in reverseProxy.GetChildren())
        {
            // YARP reads Routes and Clusters only: a misspelt "Route" left the gateway with no
            // routes and no word (every call a 404).
            if (!child.Key.Equals("Routes", StringComparison.OrdinalIgnoreCase)
                && !child.Key.Equals("Clusters", StringComparison.OrdinalIgnoreCase)
                && !child.Key.StartsWith('_'))
            {
                problems.Add($"ReverseProxy:{child.Key} is not a setting YARP reads: routes go under ReverseProxy:Routes and clusters under ReverseProxy:Clusters");
            }
        }
        var clusters = reverseProxy.GetSection("Clusters").GetChildren().Select(c => c.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in reverseProxy.GetSection("Clusters").GetChildren())
        {
            // A call's timeout sizes its claim's lease: a call without one (YARP reads a negative
            // value as "none") would outlive its lease, and another instance could take it over.
            // Read as YARP reads it (format "c"): a value YARP cannot read would otherwise crash
            // start-up with an exception instead of being named here.
            var activity = cluster["HttpRequest:ActivityTimeout"];
            if (activity is not null && (!TimeSpan.TryParseExact(activity, "c", System.Globalization.CultureInfo.InvariantCulture, out var timeout)
                || !BackendTimeouts.IsAllowed(timeout)))
            {
                problems.Add(BackendTimeouts.ActivityTimeoutProblem(cluster.Key));
            }
            foreach (var destination in cluster.GetSection("Destinations").GetChildren())
            {
                if (!BackendAddress.IsValid(destination["Address"]))
                {
                    problems.Add(BackendAddress.Problem(cluster.Key, destination.Key, destination["Address"]));
                }
            }
        }
        var actions = new List<ActionDefinition>();
        var passThrough = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var route in reverseProxy.GetSection("Routes").GetChildren())
        {
            var where = $"ReverseProxy:Routes:{route.Key}";
            var clusterId = route["ClusterId"];
            if (string.IsNullOrEmpty(clusterId) || !clusters.Contains(clusterId))
            {
                problems.Add($"{where}:ClusterId names an undefined cluster '{clusterId}'");
                continue;
            }
            if (GatewayPaths.IsOwn(route["Match:Path"]))
            {
                problems.Add(GatewayPaths.Problem(route.Key, route["Match:Path"]));
                continue;
            }
            if (int.TryParse(route["Order"], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var order) && GatewayPaths.OutranksOwn(order))
            {
                problems.Add(GatewayPaths.OrderProblem(route.Key, order));
                continue;
            }
            var metadata = route.GetSection("Metadata");
            var action = metadata[ActionKey];
            var isPassThrough = string.Equals(metadata[PassThroughKey], "true", StringComparison.OrdinalIgnoreCase);
            if (isPassThrough)
            {
                if (action is not null)
                {
                    problems.Add($"{where}: a route is either an action ({ActionKey}) or a pass-through ({PassThroughKey}), not both");
                    continue;
                }
                passThrough.Add(route.Key);
                continue;
            }
            if (string.IsNullOrEmpty(action))
            {
                problems.Add($"{where}:Metadata:{ActionKey} is missing: every route must name its action (or be marked {PassThroughKey}=true)");
                continue;
            }
            if (!OpenExec.Core.Approvals.ActionName.IsValid(action) || BuiltInActions.Names.Contains(action, StringComparer.Ordinal))
            {
                problems.Add($"{where}:Metadata:{ActionKey} '{action}' is not a valid action name, or is a built-in action");
                continue;
            }
            if (!names.Add(action))
            {
                problems.Add($"{where}:Metadata:{ActionKey} '{action}' is declared by more than one route");
                continue;
            }
            var executePath = metadata[ExecutePathKey];
            if (executePath is not null && !executePath.StartsWith('/'))
            {
                problems.Add($"{where}:Metadata:{ExecutePathKey} must start with '/'");
                continue;
            }
            if (executePath is not null && route.GetSection("Transforms").GetChildren().Any())
            {
                // /execute sends its own request to the cluster, not through the route: a
                // transform (a credential header, a path prefix) would apply to proxied calls only.
                problems.Add(ExecutePathWithTransformsProblem(route.Key));
                continue;
            }
            actions.Add(new ActionDefinition(action, ActionKind.Routed, clusterId, executePath, route.Key));
        }
        return new RouteActions(actions, passThrough);
    }
}
