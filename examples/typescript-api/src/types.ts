export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

export interface HttpEvent {
  pathParameters?: Record<string, string | undefined>;
}

export interface HttpResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
}
